"""Attacks on the landing zone and on file modes, done for real on a small synthetic place (issue 21).

One 300-person place is built and published once (NIGHT1); every night below
starts from a copy of it, with tonight's good police delivery in landing
beside whatever the attack leaves there. Each test checks that the attack
was refused with its reason (a `deliveries` row, as the validation page
shows it), that nothing outside the pipeline's folders changed mode or
content, and that the good delivery of the night was still loaded.

- `attacked_night`: a symbolic link to a file outside landing, a hard link to
  an owner-only file outside landing, a FIFO named like a delivery, a folder
  1,100 levels deep, a symbolic link to a folder holding a delivery, and a
  file name ending in a newline, all on one night (as one careless or hostile
  night would bring them), run in a child process with a time limit: a
  discovery that hangs on the FIFO fails the test instead of hanging it.
- `test_an_unreadable_file_...`: discovery runs as user `nobody` (a forked
  child that gave up root, so root's override of file modes does not hide
  the fault) while a delivery is readable by root only.
- `test_a_night_under_umask_000_...`: the whole night in a child under
  `umask 000`, then every path it created is walked and its mode checked.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stratify.config import PlaceConfig, load_config
from stratify.ingest.landing import look_at_landing

pytestmark = pytest.mark.slow

NIGHT1 = date(2026, 11, 20)
NIGHT2 = date(2026, 11, 21)
STAMP = f"{NIGHT2:%Y%m%d}"
YAML = ("place: attack\nlanding: landing\nwarehouse: wh/wh.duckdb\nout: out\n"
        "neighbourhoods: neighbourhoods.csv\ncapacity:\n  default: 10\nmodel:\n  history_months: 6\n")
PROJECT = Path(__file__).resolve().parents[1]
DEPTH = 1100
GOOD = f"police_{STAMP}.parquet"
PIPELINE_FOLDERS = ("out", "wh", "archive", "quarantine", "models")
NOBODY = 65534

NIGHT_SCRIPT = """
import json, os, sys
from datetime import date
from threadpoolctl import threadpool_limits
import stratify.ingest.discover
from stratify.config import load_config
from stratify.run.pipeline import run_pipeline
if sys.argv[3] != "-":
    os.umask(int(sys.argv[3], 8))
real = stratify.ingest.discover.discover_deliveries
stratify.ingest.discover.discover_deliveries = lambda c, x: real(c, x, settle_seconds=0)
with threadpool_limits(1):
    result = run_pipeline(load_config(sys.argv[1]), date.fromisoformat(sys.argv[2]))
print(json.dumps({"status": result["status"], "message": result.get("message"),
                  "discover": result["stages"].get("discover")}, default=str))
"""


# --------------------------------------------------------------------------- helpers


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def night_in_child(cfg: PlaceConfig, as_of: date, umask: int | None = None, timeout: float = 420) -> dict:
    """Run the whole night in a new process (its own umask), killed after `timeout` seconds."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    proc = subprocess.run([sys.executable, "-c", NIGHT_SCRIPT, str(cfg.path), as_of.isoformat(),
                           "-" if umask is None else f"{umask:o}"],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=cfg.path.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def deliveries(cfg: PlaceConfig, run_id: str | None = None) -> list[dict]:
    import duckdb

    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    try:
        cur = con.execute("SELECT d.* FROM deliveries d JOIN runs r USING (run_id) WHERE r.as_of = $1 "
                          "ORDER BY delivery_id", [NIGHT2])
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]
    finally:
        con.close()


def row_for(rows: list[dict], file_name: str) -> dict:
    found = [r for r in rows if r["file_name"] == file_name]
    assert len(found) == 1, (file_name, [(r["file_name"], r["decision"]) for r in rows])
    return found[0]


def assert_good_delivery_loaded(cfg: PlaceConfig, rows: list[dict]) -> None:
    good = row_for(rows, GOOD)
    assert good["decision"] in ("accepted", "accepted_with_warnings"), good
    assert good["loaded_at"] is not None and good["rows"] == 40, good
    assert (cfg.archive / "police" / GOOD).is_file()


def snapshot(root: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple]:
    """(type, mode, sha256 of a regular file) of every path under `root`, not following links or entering `skip`."""
    out: dict[str, tuple] = {}
    stack = [root]
    while stack:
        folder = stack.pop()
        for e in os.scandir(folder):
            p = Path(e.path)
            rel = p.relative_to(root).as_posix()
            if rel.split("/")[0] in skip or rel.startswith("landing/register/d"):
                continue
            st = p.lstat()
            digest = sha256(p) if stat.S_ISREG(st.st_mode) and os.access(p, os.R_OK) else None
            out[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), digest)
            if stat.S_ISDIR(st.st_mode):
                stack.append(p)
    return out


def make_deep(folder: Path, depth: int) -> Path:
    """`folder/d/d/.../d` `depth` levels deep, made level by level (os.makedirs recurses), with a file at the bottom."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", 0o755, dir_fd=fd)
            nxt = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        leaf = os.open(f"register_{STAMP}.csv", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(leaf, b"record_id\n")
        os.close(leaf)
    finally:
        os.close(fd)
    return folder / "d"


def remove_deep(top: Path) -> None:
    """Remove a tree `make_deep` made (too deep for shutil.rmtree, which recurses), deepest level first."""
    levels = []
    while top.is_dir() and not top.is_symlink():
        levels.append(top)
        top = top / "d"
    for folder in reversed(levels):
        for e in os.scandir(folder):
            if not e.is_dir(follow_symlinks=False):
                os.unlink(e.path)
        os.rmdir(folder)


# --------------------------------------------------------------------------- the places


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    """A published 300-person place (NIGHT1) and, beside it, tonight's good police delivery."""
    from stratify.synth.generate import synthesize

    root = tmp_path_factory.mktemp("attack_place") / "place"
    root.mkdir()
    (root / "place.yaml").write_text(YAML, encoding="utf-8")
    cfg = load_config(root / "place.yaml")
    synthesize(cfg, people=300, as_of=NIGHT1, years=1, seed=13)
    for extra in cfg.landing.glob("*/*_2.parquet"):  # the generator's corrections: fewer files, a faster night
        extra.unlink()
    shutil.copytree(root, root.parent / "pristine", symlinks=True)  # before any night: for the umask night
    first = night_in_child(cfg, NIGHT1)
    assert first["status"] == "published", first
    table = pq.read_table(next((cfg.archive / "police").glob(f"police_{NIGHT1:%Y%m%d}.parquet"))).slice(0, 40)
    ids = pa.array([f"{r}-N2" for r in table.column("record_id").to_pylist()])
    pq.write_table(table.set_column(table.schema.get_field_index("record_id"), "record_id", ids),
                   root.parent / GOOD)
    return root


def copy_place(published: Path, dst: Path) -> PlaceConfig:
    """A copy of the published place with tonight's good delivery in landing, and an `outside/` folder beside it."""
    shutil.copytree(published, dst / "place", symlinks=True)
    shutil.copy(published.parent / GOOD, dst / "place" / "landing" / "police" / GOOD)
    (dst / "outside").mkdir()
    return load_config(dst / "place" / "place.yaml")


@pytest.fixture(scope="module")
def attacked_night(published, tmp_path_factory) -> dict:
    """One night with six attacks in the landing zone, run in a child process with a time limit."""
    base = tmp_path_factory.mktemp("attacked")
    cfg = copy_place(published, base)
    with open(cfg.path, "a", encoding="utf-8") as fh:  # three sources' only files tonight are attacks: the
        fh.write("validation:\n  max_refused_share: 0.9\n")  # gate would hold the lists (rightly); publish anyway
    cfg = load_config(cfg.path)
    outside = base / "outside"
    secret = outside / "secret.csv"  # someone's owner-only export
    secret.write_text("person_id\n" + "a" * 64 + "\n", encoding="utf-8")
    secret.chmod(0o600)
    exported = outside / "export.csv"
    exported.write_text("person_id\n" + "b" * 64 + "\n", encoding="utf-8")
    exported.chmod(0o600)
    linked_folder = outside / "outcomes_folder"
    linked_folder.mkdir(mode=0o700)
    shutil.copy(published.parent / GOOD, linked_folder / f"outcomes_{STAMP}.csv")
    (linked_folder / f"outcomes_{STAMP}.csv").chmod(0o600)
    renamed = pq.read_table(published.parent / GOOD)
    renamed = renamed.set_column(0, "record_id", pa.array([f"{r}-NL" for r in renamed.column("record_id").to_pylist()]))

    landing = cfg.landing
    for source in ("health", "housing", "social_care", "register"):
        (landing / source).mkdir(exist_ok=True)
    (landing / "health" / f"health_{STAMP}.csv").symlink_to(secret)
    os.link(exported, landing / "housing" / f"housing_{STAMP}.csv")
    os.mkfifo(landing / "social_care" / f"social_care_{STAMP}.csv")
    deep = make_deep(landing / "register", DEPTH)
    if (landing / "outcomes").exists():
        shutil.rmtree(landing / "outcomes")
    (landing / "outcomes").symlink_to(linked_folder, target_is_directory=True)
    pq.write_table(renamed, landing / "police" / f"police_{STAMP}_5.parquet\n")

    outside_before = snapshot(outside)
    place_before = snapshot(cfg.path.parent, skip=PIPELINE_FOLDERS + ("landing",))
    try:
        result = night_in_child(cfg, NIGHT2, timeout=420)
        yield {"cfg": cfg, "result": result, "rows": deliveries(cfg), "outside": outside,
               "outside_before": outside_before, "place_before": place_before, "secret": secret,
               "exported": exported, "linked_folder": linked_folder, "deep": deep}
    finally:
        remove_deep(deep)


# --------------------------------------------------------------------------- one night, six attacks


def test_the_attacked_night_publishes_and_loads_the_good_delivery(attacked_night):
    cfg, rows = attacked_night["cfg"], attacked_night["rows"]
    assert attacked_night["result"]["status"] == "published", attacked_night["result"]
    assert_good_delivery_loaded(cfg, rows)
    page = (cfg.out / "latest" / "validation.html").read_text(encoding="utf-8")  # the IG page shows each refusal
    for words in ("a symbolic link, not a regular file", "a hard link (2 names", "a FIFO (named pipe)",
                  "levels below the landing zone", "a symbolic link to a folder", "control character (\\n)"):
        assert words in page, words
    assert snapshot(attacked_night["outside"]) == attacked_night["outside_before"]  # no mode, no byte changed
    assert snapshot(cfg.path.parent, skip=PIPELINE_FOLDERS + ("landing",)) == attacked_night["place_before"]
    for folder, _, files in os.walk(cfg.archive):  # the archive holds regular files of their own only
        for name in files:
            st = os.lstat(Path(folder) / name)
            assert stat.S_ISREG(st.st_mode) and st.st_nlink == 1, Path(folder) / name


def test_a_symbolic_link_to_a_file_outside_landing_is_refused_not_followed(attacked_night):
    cfg, rows = attacked_night["cfg"], attacked_night["rows"]
    row = row_for(rows, f"health_{STAMP}.csv")
    assert row["decision"] == "refused" and "a symbolic link, not a regular file" in row["reason"], row
    assert row["sha256"] == "" and row["loaded_at"] is None  # never opened, so never hashed
    stored = Path(row["stored_path"])
    assert stored.parent == cfg.quarantine / "health" and stored.is_symlink()  # moved as the link it is
    assert os.readlink(stored) == str(attacked_night["secret"])
    assert "symbolic link" in Path(str(stored) + ".reason.txt").read_text(encoding="utf-8")
    assert not (cfg.archive / "health" / f"health_{STAMP}.csv").exists()
    assert stat.S_IMODE(attacked_night["secret"].stat().st_mode) == 0o600


def test_a_hard_link_to_an_owner_only_file_is_refused_and_its_mode_and_content_kept(attacked_night):
    cfg, rows = attacked_night["cfg"], attacked_night["rows"]
    row = row_for(rows, f"housing_{STAMP}.csv")
    assert row["decision"] == "refused" and "a hard link (2 names" in row["reason"], row
    assert row["sha256"] == ""
    exported = attacked_night["exported"]
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600  # the pipeline's chmod did not go through the link
    assert exported.read_text(encoding="utf-8") == "person_id\n" + "b" * 64 + "\n"
    assert Path(row["stored_path"]).parent == cfg.quarantine / "housing"


def test_a_fifo_named_like_a_delivery_does_not_hang_the_night(attacked_night):
    cfg, rows = attacked_night["cfg"], attacked_night["rows"]
    row = row_for(rows, f"social_care_{STAMP}.csv")
    assert row["decision"] == "refused" and "a FIFO (named pipe), not a regular file" in row["reason"], row
    stored = Path(row["stored_path"])
    assert stored.parent == cfg.quarantine / "social_care" and stat.S_ISFIFO(stored.lstat().st_mode)


def test_a_folder_1100_levels_deep_is_reported_and_not_searched(attacked_night):
    rows = attacked_night["rows"]
    deep = [r for r in rows if r["file_name"].startswith("register/d/d/")]
    assert len(deep) == 1, [r["file_name"] for r in rows]
    assert deep[0]["decision"] == "refused" and "levels below the landing zone: not searched" in deep[0]["reason"]
    assert attacked_night["deep"].is_dir()  # left where it is, for its owner to clear
    assert not any(r["file_name"] == f"register_{STAMP}.csv" for r in rows)


def test_a_symbolic_link_to_a_folder_is_reported_not_skipped_silently(attacked_night):
    cfg, rows = attacked_night["cfg"], attacked_night["rows"]
    row = row_for(rows, "outcomes/")
    assert row["decision"] == "refused" and "a symbolic link to a folder: not followed" in row["reason"], row
    assert (cfg.landing / "outcomes").is_symlink()
    inside = attacked_night["linked_folder"] / f"outcomes_{STAMP}.csv"
    assert inside.is_file() and stat.S_IMODE(inside.stat().st_mode) == 0o600
    assert not any(r["file_name"] == f"outcomes_{STAMP}.csv" for r in rows)


def test_a_file_name_ending_in_a_newline_is_not_a_delivery_name(attacked_night):
    cfg, rows = attacked_night["cfg"], attacked_night["rows"]
    row = row_for(rows, f"police_{STAMP}_5.parquet\\n")  # shown with the newline written out
    assert row["decision"] == "refused" and "control character (\\n)" in row["reason"], row
    assert row["loaded_at"] is None
    assert Path(row["stored_path"]).parent == cfg.quarantine / "_unrecognised"
    assert not (cfg.landing / "police" / f"police_{STAMP}_5.parquet\n").exists()


# --------------------------------------------------------------------------- the look itself, bounded


def test_looking_at_the_landing_zone_never_opens_a_fifo_and_stops_at_a_bounded_depth(tmp_path):
    landing = tmp_path / "landing"
    (landing / "police").mkdir(parents=True)
    os.mkfifo(landing / "police" / f"police_{STAMP}.csv")
    deep = make_deep(landing / "police", DEPTH)
    try:
        with pytest.raises(RecursionError):  # what discovery used before: os.walk recurses per level
            for _ in os.walk(landing):
                pass
        found, refused = look_at_landing(landing)  # returns at once: a FIFO opened for reading would wait here
        assert found == []
        assert [(r.path.name, r.action) for r in refused] == [("d", "leave"), (f"police_{STAMP}.csv", "quarantine")]
    finally:
        remove_deep(deep)


# --------------------------------------------------------------------------- an unreadable file, as nobody


def _drop_to_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def test_an_unreadable_file_is_refused_and_the_night_goes_on(published):
    """Discovery as `nobody` (a forked child that gave up root: root reads any file), the rest of the night as usual."""
    if os.geteuid() != 0:
        pytest.skip("needs root to hand the place to user nobody (65534) and give up root in a child")
    from threadpoolctl import threadpool_limits

    from stratify.ingest import discover
    from stratify.resources import DDL_DIR
    from stratify.run.audit import start_run
    from stratify.run.pipeline import STAGES, stage_function

    blocked = [a for a in Path(DDL_DIR).resolve().parents if not a.stat().st_mode & stat.S_IXOTH]
    if blocked:  # e.g. a clone under `mktemp -d` (0700): the child could not read the warehouse's DDL
        pytest.skip(f"user nobody cannot enter {blocked[0]} (mode {stat.S_IMODE(blocked[0].stat().st_mode):o}), "
                    "so it cannot read the checkout's warehouse DDL; clone where other users may enter")
    for name, _ in STAGES:  # import every stage now: the child may not read root's interpreter files
        stage_function(name)
    base = Path(tempfile.mkdtemp(prefix="stratify-nobody-"))  # not under pytest's root-only folder
    try:
        cfg = copy_place(published, base)
        for folder, dirs, files in os.walk(base):
            for name in dirs + files:
                os.lchown(Path(folder) / name, NOBODY, NOBODY)
        os.chown(base, NOBODY, NOBODY)
        unreadable = cfg.landing / "police" / f"police_{STAMP}_4.parquet"
        shutil.copy(published.parent / GOOD, unreadable)
        unreadable.chmod(0o600)  # root's: nobody may not read it
        before = (sha256(unreadable), stat.S_IMODE(unreadable.stat().st_mode), unreadable.stat().st_uid)
        outside_before = snapshot(base / "outside")

        ctx = start_run(cfg, NIGHT2)
        for path in cfg.warehouse.parent.iterdir():
            os.lchown(path, NOBODY, NOBODY)
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: nobody, discovery only
            code = 1
            try:
                os.close(read_fd)
                _drop_to_nobody()
                assert not os.access(unreadable, os.R_OK)
                summary = discover.discover_deliveries(cfg, ctx, settle_seconds=0)
                os.write(write_fd, json.dumps(summary, default=str).encode())
                code = 0
            except BaseException as exc:  # noqa: BLE001 - report anything to the parent
                os.write(write_fd, json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
            finally:
                os._exit(code)
        os.close(write_fd)
        with os.fdopen(read_fd) as fh:
            told = json.loads(fh.read() or "{}")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, told
        assert told["pending"] == 1 and told["refused"] == 1, told

        rows = deliveries(cfg)
        row = row_for(rows, unreadable.name)
        assert row["decision"] == "refused", row
        assert "cannot be read by the user that runs stratify (permission denied): make it readable" in row["reason"]
        assert unreadable.is_file()  # left in landing, to be taken once it is readable
        assert (sha256(unreadable), stat.S_IMODE(unreadable.stat().st_mode), unreadable.stat().st_uid) == before
        assert snapshot(base / "outside") == outside_before

        from stratify.run.audit import finish_run

        with threadpool_limits(1):  # the rest of the night, as the pipeline's own user
            for name, _ in STAGES[2:]:
                stage_function(name)(cfg, ctx)
        finish_run(cfg, ctx, "published")
        assert_good_delivery_loaded(cfg, deliveries(cfg))
    finally:
        shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------- umask 000


def test_a_night_under_umask_000_leaves_every_path_it_created_private(published, tmp_path):
    """The place's first night (it creates out/, the warehouse and its folder, archive, quarantine) under umask 000."""
    shutil.copytree(published.parent / "pristine", tmp_path / "place", symlinks=True)
    cfg = load_config(tmp_path / "place" / "place.yaml")
    (cfg.landing / "police" / "notes.txt").write_text("not a delivery\n")  # refused: the quarantine is made too
    before = snapshot(tmp_path)
    assert not any(rel.startswith(tuple(f"place/{f}" for f in PIPELINE_FOLDERS)) for rel in before)
    result = night_in_child(cfg, NIGHT1, umask=0o000)
    assert result["status"] == "published", result
    after = snapshot(tmp_path)
    created = sorted(set(after) - set(before))
    assert any(p.startswith("place/out/runs/") for p in created), created
    assert any(p.startswith("place/archive/register/") for p in created), created
    assert "place/quarantine/_unrecognised/notes.txt.reason.txt" in created, created
    wrong = []
    for rel in created:
        kind, mode, _ = after[rel]
        if kind == stat.S_IFLNK:
            continue  # `latest`: a link's own mode means nothing
        want = (0o750,) if kind == stat.S_IFDIR else (0o640, 0o600)
        if mode not in want:
            wrong.append(f"{rel}: {mode:o}")
    assert wrong == []
    kept = [rel for rel in set(before) & set(after) if not rel.startswith("place/landing/")]
    assert [rel for rel in kept if before[rel] != after[rel]] == []  # nothing else changed mode or content
    wh = cfg.warehouse
    assert stat.S_IMODE(wh.stat().st_mode) == 0o640
    for folder in (cfg.out, cfg.archive, cfg.quarantine, wh.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o750, folder


def test_permissions_are_set_by_descriptor_and_never_through_links(tmp_path):
    """`restrict` leaves a link, a hard-linked file and a FIFO alone; `make_private_dir` ignores the umask."""
    from stratify.files.permissions import make_private_dir, restrict, restrict_tree

    victim = tmp_path / "victim.csv"
    victim.write_text("x\n")
    victim.chmod(0o604)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "link").symlink_to(victim)
    os.link(victim, tree / "hard")
    os.mkfifo(tree / "fifo")
    (tree / "mine.csv").write_text("y\n")
    (tree / "mine.csv").chmod(0o666)
    restrict_tree(tree)
    restrict(tree / "link")
    assert stat.S_IMODE(victim.stat().st_mode) == 0o604
    assert stat.S_IMODE((tree / "mine.csv").stat().st_mode) == 0o640
    old = os.umask(0o077)
    try:
        made = make_private_dir(tmp_path / "a" / "b")
    finally:
        os.umask(old)
    assert stat.S_IMODE(made.stat().st_mode) == 0o750 and stat.S_IMODE(made.parent.stat().st_mode) == 0o750
    with pytest.raises(OSError) as caught:
        os.open(tree / "link", os.O_RDONLY | os.O_NOFOLLOW)
    assert caught.value.errno == errno.ELOOP
