"""The one way to the warehouse: connect (encrypted or not), migrate the DDL in `warehouse/`, run named SQL files with bound parameters, quote identifiers."""
