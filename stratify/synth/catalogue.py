"""The contract's event types under one index, with their behaviour and the SMD domains they evidence."""

from __future__ import annotations

import numpy as np

from stratify.contract import Contract, DomainRule
from stratify.synth.behaviour import AGE_MULT_TYPE, BRIAN, DEFAULT_RATE, PAIRS, POLICE_ROLES, RATES, SPELLS


class Catalogue:
    """The contract's event types (one global index) with their behaviour."""

    def __init__(self, contract: Contract, domains: tuple[DomainRule, ...]):
        _check_behaviour(contract)
        self.contract = contract
        self.types: list[tuple[str, str]] = [(s.name, e) for s in contract.event_sources for e in s.event_types]
        self.index = {t: i for i, t in enumerate(self.types)}
        self.source = np.array([s for s, _ in self.types])
        self.rate = [RATES.get(t, DEFAULT_RATE) for t in self.types]
        self.domains = domains
        self.domain_names = list(dict.fromkeys(r.domain for r in domains))
        self.evidence: dict[int, tuple[int, tuple[str, ...]]] = {}  # type -> (domain, roles)
        for r in domains:
            for e in r.event_types:
                self.evidence[self.index[(r.source, e)]] = (self.domain_names.index(r.domain), r.roles)
        roles: list[str] = []
        for s in contract.event_sources:
            if "role" in s.column_names:
                roles += [c for c in s.column("role").codes or () if c not in roles]
        self.roles = roles
        self.substance_codes, self.substance_domain = self._icd_domain_codes()

    def _icd_domain_codes(self) -> tuple[tuple[str, ...], int]:
        """Diagnosis codes that evidence a domain through an ICD-10 range (e.g. F10-F19)."""
        for r in self.domains:
            if r.icd10_from and r.icd10_to:
                letter, lo, hi = r.icd10_from[0], int(r.icd10_from[1:3]), int(r.icd10_to[1:3])
                return tuple(f"{letter}{k:02d}.2" for k in range(lo, hi + 1)), self.domain_names.index(r.domain)
        return (), -1

    def t(self, source: str, event_type: str) -> int:
        return self.index[(source, event_type)]

    def role(self, code: str) -> int:
        return self.roles.index(code)


def _check_behaviour(contract: Contract) -> None:
    """The behaviour tables may only name contract event types and codes."""
    known = contract.all_event_types()
    for table in (RATES, AGE_MULT_TYPE, PAIRS, SPELLS, BRIAN):
        for key in table:
            if key not in known:
                raise ValueError(f"synth: {key} is not an event type of contract v{contract.version}")
    for (src, _), (end, *_rest) in PAIRS.items():
        if (src, end) not in known:
            raise ValueError(f"synth: {(src, end)} is not an event type of contract v{contract.version}")
    police_roles = set(contract.source("police").column("role").codes or ())
    for et, odds in POLICE_ROLES.items():
        if ("police", et) not in known or set(odds) - police_roles:
            raise ValueError(f"synth: police roles for {et!r} do not match the contract")
