"""The place configuration: `load_config(path)` -> a frozen, validated `PlaceConfig`; `ConfigError` otherwise.

- `place`: the YAML file as written (`PlaceFile`) and the `PlaceConfig` built from it;
<<<<<<< HEAD
- `sections`: model, validation, suppression, lists, duckdb, retention, encryption, drops, app;
- `oidc`: `app.oidc`, the web app's OpenID Connect provider and its claims mapping;
=======
- `sections`: model, validation, suppression, lists, measures, duckdb, retention, encryption, drops;
>>>>>>> h-bench17
- `crisis_rules`: the crisis rules, their ids and reason templates;
- `features`: the feature names known when the configuration is loaded;
- `neighbourhoods`, `drops`: the files and places the configuration points at;
- `names`, `messages`: names instead of secrets, and errors that never echo one.
"""

from stratify.config.crisis_rules import DEFAULT_RULES, RULE_OPS, CrisisRule, template_fields
from stratify.config.neighbourhoods import TEAM_RE, read_neighbourhoods
from stratify.config.place import PLACE_RE, TOP_LEVEL_KEYS, PlaceConfig, PlaceFile, load_config, parse_config
from stratify.config.sections import (
    DropConfig,
    DuckDBConfig,
    EncryptionConfig,
    ListsConfig,
    MeasuresConfig,
    ModelConfig,
    RetentionConfig,
    SuppressionConfig,
    TransparencyConfig,
    ValidationConfig,
)
from stratify.errors import ConfigError

__all__ = [
    "DEFAULT_RULES", "PLACE_RE", "RULE_OPS", "TEAM_RE", "TOP_LEVEL_KEYS", "ConfigError", "CrisisRule", "DropConfig",
    "DuckDBConfig", "EncryptionConfig", "ListsConfig", "MeasuresConfig", "ModelConfig", "PlaceConfig", "PlaceFile", "RetentionConfig",
    "SuppressionConfig", "TransparencyConfig", "ValidationConfig", "load_config", "parse_config",
    "read_neighbourhoods", "template_fields",
]
