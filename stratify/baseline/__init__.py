"""The place's baseline for leaders (`stratify baseline`, and `baseline.html`/`baseline.json` in every run): people, agencies, cost and priorities, aggregates only."""
