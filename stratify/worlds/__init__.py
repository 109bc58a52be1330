"""A second synthetic world, on mechanics `stratify synth` does not use: a place to test on that the model was not tuned on.

`stratify synth --world stepwise` writes the same delivery files a place
receives (contract v1: register, health, social care, housing, police,
outcomes) and its own answer key, from different mechanics:

- `population`: households, ages, LSOAs and teams of about 12,500 people;
- `paths`: people at risk acquire disadvantage domains one at a time, with
  irregular (log-normal) gaps; most stop before three; many recover; a
  household member's third domain starts others of the household on a path
  and speeds up those already on one;
- `noise`: heavy-tailed background contacts (a log-normal propensity per
  person and bursts of Zipf-sized clusters), which never evidence a domain;
- `events`: a path's domain events, the warning contacts that lead into each
  domain, and the children's referrals when a parent reaches three;
- `reporting`: each agency reports late (its own lag distribution, police's
  heavy-tailed) and in batches (weekly, fortnightly, four-weekly): the
  deliveries hold what was reported by the as-of date, so the last weeks are
  thin, as a real night's are;
- `write`: the contract's tables and files, and (for benchmarks only) the
  whole world beyond the as-of date, outside the landing folder;
- `answer_key`: each person's latent escalation (their path, and the chance
  of a first crisis within six months given the state on the as-of date);
- `generate`: puts them together.
"""
