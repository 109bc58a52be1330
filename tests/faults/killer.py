"""Run one night in this process and SIGKILL it at a chosen point (used by the fault suite).

    python killer.py PLACE.yaml AS_OF POINT

POINT is where the process kills itself, with SIGKILL (no cleanup, no
`finally`, DuckDB's write-ahead log left as it is):

- `load`: inside a delivery's load transaction, after its rows were inserted
  and its file archived, before the commit;
- `features`: after the feature tables were built, before the stage returned;
- `publish-before-switch`: lists written, checked and recorded, before the run
  folder is renamed;
- `publish-mid-switch`: after the run folder was renamed and the new link
  made, before `latest` was replaced;
- `after-publish`: `latest` switched, before the run was closed;
- `hold`: never killed: holds the run (and its lock) at discovery until the
  file `<place>/hold.go` exists, after writing `<place>/hold.ready`.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from datetime import date
from pathlib import Path


def die(*_a, **_k):
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def after(real):
    def wrapped(*a, **k):
        out = real(*a, **k)
        die()
        return out
    return wrapped


def main() -> None:
    config, as_of, point = sys.argv[1], date.fromisoformat(sys.argv[2]), sys.argv[3]
    import stratify.features.build
    import stratify.ingest.discover
    import stratify.ingest.load
    import stratify.publish.stage
    import stratify.run.audit
    from stratify.config import load_config
    from stratify.run.pipeline import run_pipeline

    cfg = load_config(config)
    real_discover = stratify.ingest.discover.discover_deliveries
    stratify.ingest.discover.discover_deliveries = lambda c, x: real_discover(c, x, settle_seconds=0)
    if point == "load":
        stratify.ingest.load.run_sql_file = after(stratify.ingest.load.run_sql_file)
    elif point == "features":
        stratify.features.build.write_stage_summary = die
    elif point == "publish-before-switch":
        stratify.publish.stage.switch_latest = die
    elif point == "publish-mid-switch":
        real = os.symlink

        def symlink(src, dst, *a, **k):
            real(src, dst, *a, **k)
            if Path(dst).name.startswith(".latest-"):
                die()
        os.symlink = symlink
    elif point == "after-publish":
        real_finish = stratify.run.audit.finish_run

        def finish(cfg_, ctx, status, *a, **k):
            if status == "published":
                die()
            return real_finish(cfg_, ctx, status, *a, **k)
        stratify.run.audit.finish_run = finish
    elif point == "hold":
        folder = cfg.path.parent

        def discover(cfg_, ctx, *a, **k):
            (folder / "hold.ready").write_text(ctx.run_id)
            deadline = time.monotonic() + 120
            while not (folder / "hold.go").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            return real_discover(cfg_, ctx, settle_seconds=0)
        stratify.ingest.discover.discover_deliveries = discover
    else:
        raise SystemExit(f"unknown point {point}")
    result = run_pipeline(cfg, as_of)
    print(result.get("status"))


if __name__ == "__main__":
    main()
