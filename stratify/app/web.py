"""The app's routes: log-in, a team's list and people, recording outcomes, the IG log, overview, run status.

`create_app(cfg)` builds the FastAPI app. Every route but `/login` and the
stylesheets needs a live session; every page view and refusal is audited
(`stratify.app.audit`); every form carries the anti-forgery token; a team's
pages exist only for its own members (404 for anyone else, logged). Each
request resolves the published run once (`RunCache.current_run`) and reads
only that folder. `clock` (UTC now) is injectable for tests.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from stratify.app import audit, notes, oidc, outcomes, pages, published, teamlist
from stratify.app.security import CSP_PUBLISHED_PAGE, SecurityHeaders, may_see, may_see_team
from stratify.app.sessions import (
    COOKIE,
    IDLE,
    Session,
    app_key,
    end_session,
    load_session,
    login_token,
    login_token_ok,
    same_token,
    start_session,
)
from stratify.app.store import migrate, now_utc, open_db
from stratify.app.users import UserError, authenticate, team_members
from stratify.config import PlaceConfig
from stratify.errors import NotPublished

LOGIN_COOKIE = "stratify_login"


class Refused(Exception):
    """End the request with this status and page (already audited)."""

    def __init__(self, status: int, title: str, message: str):
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


@dataclass
class Ctx:
    """One request: the app's database, the signed-in session and where the request came from."""

    request: Request
    con: sqlite3.Connection
    session: Session
    now: datetime

    def log(self, action: str, target: str, allowed: bool, detail: str = "") -> None:
        u = self.session.user
        audit.append(self.con, now=self.now, user=u.name, role=u.role, team=u.team, action=action, target=target,
                     client=_client(self.request), allowed=allowed, detail=detail)


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def create_app(cfg: PlaceConfig, clock: Callable[[], datetime] = now_utc) -> FastAPI:
    db = cfg.app_database
    migrate(db)
    with open_db(db) as con:
        key = app_key(con)
        outcomes.deliver_pending(con, cfg, _today(cfg, clock()))
        notes.purge_notes(con, cfg.app_note_retention_days, clock())
    notes_due = notes.Due()
    notes_due(clock())
    app = FastAPI(title="stratify", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(SecurityHeaders)
    runs = published.RunCache()
    # Held open for the app's life, never used: else each request's close is the database's last, on which
    # SQLite checkpoints the WAL and fsyncs the database file, on every page (seen by `stratify bench app`).
    app.state.wal_keeper = sqlite3.connect(db, check_same_thread=False)
    app.state.wal_keeper.execute("PRAGMA journal_mode = WAL").fetchone()  # opens the WAL: it now counts

    def today() -> date:
        return _today(cfg, clock())

    def page(template: str, ctx: Ctx | None, status: int = 200, **context: Any) -> HTMLResponse:
        user = ctx.session.user if ctx else None
        csrf = ctx.session.csrf_token if ctx else ""
        return HTMLResponse(pages.render(template, user=user, csrf_token=csrf, place=cfg.place, **context),
                            status_code=status)

    def refused_page(exc: Refused, ctx: Ctx | None) -> HTMLResponse:
        return page("message.html.j2", ctx, status=exc.status, title=exc.title, message=exc.message)

    def handle(request: Request, action: str, target: str, body: Callable[[Ctx], Response]) -> Response:
        """Sign-in check, the route's body, refusals audited; one database connection for the request."""
        now = clock()
        with open_db(db) as con:
            if notes_due(now):  # a server that runs for weeks still forgets old notes
                notes.purge_notes(con, cfg.app_note_retention_days, now)
            session = load_session(con, key, request.cookies.get(COOKIE), now)
            if session is None:
                audit.append(con, now=now, user=None, role=None, team=None, action=action, target=target,
                             client=_client(request), allowed=False, detail="not signed in")
                response = RedirectResponse("/login", status_code=303)
                response.delete_cookie(COOKIE)
                return response
            ctx = Ctx(request, con, session, now)
            try:
                response = body(ctx)
            except Refused as exc:
                response = refused_page(exc, ctx)
            if action != "logout":  # the browser's cookie lives as long as the server's idle clock
                response.set_cookie(COOKIE, request.cookies[COOKIE], max_age=int(IDLE.total_seconds()),
                                    httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/")
            return response

    def check_form(ctx: Ctx, token: str | None, action: str, target: str) -> None:
        if not same_token(ctx.session.csrf_token, token):
            ctx.log(action, target, False, "anti-forgery token missing or wrong")
            raise Refused(403, "Refused", "This form was not sent from this app (its anti-forgery token is missing "
                          "or wrong); nothing was recorded. Open the page again and resend it.")

    def current_run(ctx: Ctx, action: str, target: str):
        try:
            return runs.current_run(cfg)
        except NotPublished as exc:
            ctx.log(action, target, False, "nothing published")
            raise Refused(503, "No published lists", f"There is no published run to show: {exc}") from None

    def team_of(ctx: Ctx, team: str, action: str, target: str) -> published.TeamView:
        if not may_see_team(ctx.session.user, team):
            ctx.log(action, target, False, "not this user's team")
            raise Refused(404, "Not found", "There is no such page.")
        run = current_run(ctx, action, target)
        if team not in published.published_teams(run):
            ctx.log(action, target, False, "the team has no published list")
            raise Refused(404, "Not found", "There is no such page.")
        try:
            return runs.team_view(run, team)
        except NotPublished as exc:
            ctx.log(action, target, False, str(exc))
            raise Refused(503, "Cannot be shown", f"{exc}. Tell information-governance staff.") from None

    # ----------------------------------------------------------------------------------- log-in

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, failed: str = "") -> Response:
        token = login_token(key)
        response = page("login.html.j2", None, login_token=token, failed=bool(failed), oidc_name=oidc.provider_name(cfg))
        response.set_cookie(LOGIN_COOKIE, token, max_age=1800, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/login")
        return response

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        return await run_in_threadpool(log_in, request, form)  # argon2 takes a while: not on the event loop

    def log_in(request: Request, form) -> Response:
        name, password = str(form.get("username", "")), str(form.get("password", ""))
        token = str(form.get("csrf_token", ""))
        now = clock()
        with open_db(db) as con:
            def refuse(detail: str, status: int = 303) -> Response:
                audit.append(con, now=now, user=name[:100] or None, role=None, team=None, action="login",
                             target="/login", client=_client(request), allowed=False, detail=detail)
                if status == 403:
                    return page("message.html.j2", None, status=403, title="Refused",
                                message="This form was not sent from this app; open the log-in page again.")
                return RedirectResponse("/login?failed=1", status_code=303)

            if not login_token_ok(key, token) or not same_token(request.cookies.get(LOGIN_COOKIE, ""), token):
                return refuse("anti-forgery token missing or wrong", 403)
            try:
                user = authenticate(con, name, password, now)
            except UserError:
                return refuse("wrong password, unknown, locked or disabled account")
            cookie, session = start_session(con, key, user, now)
            audit.append(con, now=now, user=user.name, role=user.role, team=user.team, action="login",
                         target="/login", client=_client(request), allowed=True)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, cookie, max_age=int(IDLE.total_seconds()), httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        form = await request.form()

        def body(ctx: Ctx) -> Response:
            check_form(ctx, str(form.get("csrf_token", "")), "logout", "/logout")
            end_session(ctx.con, ctx.session.session_id)
            ctx.log("logout", "/logout", True)
            response = RedirectResponse("/login", status_code=303)
            response.delete_cookie(COOKIE)
            return response
        return await run_in_threadpool(handle, request, "logout", "/logout", body)

    @app.get("/")
    def home(request: Request) -> Response:
        def body(ctx: Ctx) -> Response:
            u = ctx.session.user
            where = {"team_lead": f"/teams/{u.team}", "team_member": f"/teams/{u.team}", "place_lead": "/overview",
                     "ig_auditor": "/ig/audit", "data_team": "/status"}[u.role]
            return RedirectResponse(where, status_code=303)
        return handle(request, "home", "/", body)

    # ----------------------------------------------------------------------------------- a team's morning

    @app.get("/teams/{team}", response_class=HTMLResponse)
    def team_list(request: Request, team: str) -> Response:
        target = f"list {team}"

        def body(ctx: Ctx) -> Response:
            view = team_of(ctx, team, "view_list", target)
            try:
                chosen = teamlist.chosen_filters(cfg, dict(request.query_params))
            except teamlist.FilterRefused as exc:
                ctx.log("view_list", target, False, "unknown filter")
                raise Refused(400, "Unknown filter", f"{exc}.") from None
            shown = teamlist.list_context(cfg, view, chosen, outcomes.last_reviews(ctx.con, team))
            detail = " ".join(f"{k}={v}" for k, v in chosen.items() if v)
            ctx.log("view_list", target, True, f"run {view.run_id}; {len(shown['people'])} people shown {detail}".strip())
            return page("team.html.j2", ctx, view=view, team=team, labels=pages.AGENCY_LABELS, **shown)
        return handle(request, "view_list", target, body)

    def person_of(ctx: Ctx, team: str, ref: str, action: str) -> tuple[published.TeamView, str, str, dict]:
        view = team_of(ctx, team, action, f"person {ref} of {team}")
        person_id = view.find(ref)
        if person_id is None:
            ctx.log(action, f"person {ref[:64]} of {team}", False, "nobody on this team's page")
            raise Refused(404, "Not found", "There is no such person on the team's page tonight.")
        part, row = view.where(person_id)
        return view, person_id, part, row

    @app.get("/teams/{team}/people/{ref}", response_class=HTMLResponse)
    def person(request: Request, team: str, ref: str, recorded: str = "") -> Response:
        def body(ctx: Ctx) -> Response:
            view, person_id, part, row = person_of(ctx, team, ref, "view_person")
            shown = teamlist.person_shown(cfg, view, person_id, part, row)
            ctx.log("view_person", person_id, True, f"run {view.run_id}; team {team}; {part}")
            return page("person.html.j2", ctx, view=view, team=team, p=shown, part=part, person_id=person_id,
                        history=outcomes.history(ctx.con, team, person_id), codes=outcomes.outcome_codes(),
                        members=team_members(ctx.con, team), today=today().isoformat(),
                        recorded=bool(recorded), takes_effect=outcomes.TAKES_EFFECT, error="",
                        legend=pages.timeline_legend(view.as_of),
                        has_timeline=part != "dropped" and person_id in view.timelines)
        return handle(request, "view_person", f"person {ref[:64]} of {team}", body)

    @app.post("/teams/{team}/people/{ref}/outcome")
    async def record(request: Request, team: str, ref: str) -> Response:
        form = await request.form()
        field = {k: str(form.get(k, "")) for k in ("csrf_token", "outcome", "event_date", "key_worker", "note")}

        def body(ctx: Ctx) -> Response:
            check_form(ctx, field["csrf_token"], "record_outcome", f"person {ref[:64]} of {team}")
            view, person_id, part, _ = person_of(ctx, team, ref, "record_outcome")
            try:
                outcome, when, key_worker, note = outcomes.check_review(
                    field["outcome"], field["event_date"], field["key_worker"], field["note"],
                    team_members(ctx.con, team), today())
            except outcomes.ReviewRefused as exc:
                ctx.log("record_outcome", person_id, False, f"form refused: {exc}")
                raise Refused(400, "Not recorded", f"Nothing was recorded: {exc}.") from None
            review = outcomes.Review(outcomes.new_record_id(), person_id, team, outcome, when, key_worker, note,
                                     ctx.session.user.name)
            delivered = outcomes.record_review(ctx.con, cfg, review, view.run_id, ctx.now, today())
            ctx.log("record_outcome", person_id, True, f"{outcome} on {when}; delivery {delivered.name}")
            notes.purge_notes(ctx.con, cfg.app_note_retention_days, ctx.now)
            return RedirectResponse(f"/teams/{team}/people/{view.refs[person_id]}?recorded=1", status_code=303)
        return await run_in_threadpool(handle, request, "record_outcome", f"person {ref[:64]} of {team}", body)

    # ----------------------------------------------------------------------------------- IG, leaders, data team

    @app.get("/ig/audit", response_class=HTMLResponse)
    def audit_log(request: Request, user_name: str = "", team: str = "", action: str = "", allowed: str = "",
                  since: str = "", until: str = "") -> Response:
        filters = {"user_name": user_name, "team": team, "action": action, "allowed": allowed, "since": since,
                   "until": until}

        def body(ctx: Ctx) -> Response:
            if not may_see(ctx.session.user, "ig"):
                ctx.log("view_audit", "audit log", False, "not an IG auditor")
                raise Refused(404, "Not found", "There is no such page.")
            rows = audit.search(ctx.con, filters)
            checked = audit.verify(ctx.con)
            ctx.log("view_audit", "audit log", True, urlencode({k: v for k, v in filters.items() if v}))
            return page("audit.html.j2", ctx, rows=rows, filters=filters, checked=checked, limit=audit.MAX_SHOWN,
                        export_query=urlencode({k: v for k, v in filters.items() if v}))
        return handle(request, "view_audit", "audit log", body)

    @app.get("/ig/audit.csv")
    def audit_export(request: Request, user_name: str = "", team: str = "", action: str = "", allowed: str = "",
                     since: str = "", until: str = "") -> Response:
        filters = {"user_name": user_name, "team": team, "action": action, "allowed": allowed, "since": since,
                   "until": until}

        def body(ctx: Ctx) -> Response:
            if not may_see(ctx.session.user, "ig"):
                ctx.log("export_audit", "audit log", False, "not an IG auditor")
                raise Refused(404, "Not found", "There is no such page.")
            rows = audit.search(ctx.con, filters)
            ctx.log("export_audit", "audit log", True, f"{len(rows)} rows; " +
                    urlencode({k: v for k, v in filters.items() if v}))
            return Response(audit.as_csv(rows), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": 'attachment; filename="access_log.csv"'})
        return handle(request, "export_audit", "audit log", body)

    def published_page(request: Request, name: str, page_name: str, action: str) -> Response:
        def body(ctx: Ctx) -> Response:
            if not may_see(ctx.session.user, page_name):
                ctx.log(action, name, False, f"role {ctx.session.user.role}")
                raise Refused(404, "Not found", "There is no such page.")
            run = current_run(ctx, action, name)
            try:
                data = published.read_published(run, name)
            except NotPublished as exc:
                ctx.log(action, name, False, str(exc))
                raise Refused(503, "Cannot be shown", f"{exc}. Tell information-governance staff.") from None
            ctx.log(action, name, True, f"run {run.run_id}")
            return Response(data, media_type="text/html; charset=utf-8",
                            headers={"Content-Security-Policy": CSP_PUBLISHED_PAGE})
        return handle(request, action, name, body)

    @app.get("/ig/validation")
    def validation(request: Request) -> Response:
        return published_page(request, "validation.html", "ig", "view_validation")

    @app.get("/overview")
    def overview(request: Request) -> Response:
        return published_page(request, "overview.html", "overview", "view_overview")

    @app.get("/status", response_class=HTMLResponse)
    def status(request: Request) -> Response:
        def body(ctx: Ctx) -> Response:
            if not may_see(ctx.session.user, "status"):
                ctx.log("view_status", "status", False, f"role {ctx.session.user.role}")
                raise Refused(404, "Not found", "There is no such page.")
            from stratify.run.status import read_status

            try:
                run_id = runs.current_run(cfg).run_id
            except NotPublished as exc:
                run_id = f"none ({exc})"
            runs_folder = cfg.out / "runs"
            history = sorted((p.name for p in runs_folder.iterdir() if p.is_dir()), reverse=True) \
                if runs_folder.is_dir() else []
            ctx.log("view_status", "status", True)
            return page("status.html.j2", ctx, run_status=read_status(cfg) or {}, run_id=run_id, history=history[:30])
        return handle(request, "view_status", "status", body)

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)  # no icon: browsers ask for one on every site

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in pages.STATIC:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(pages.STATIC[name].read_bytes(), media_type="text/css",
                        headers={"Cache-Control": "no-store"})

    oidc.register(app, cfg, key, clock)  # /login/oidc and /auth/callback, when app.oidc is configured
    return app


def _today(cfg: PlaceConfig, now: datetime) -> date:
    return now.astimezone(ZoneInfo(cfg.timezone)).date()
