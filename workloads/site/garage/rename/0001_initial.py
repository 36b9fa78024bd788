"""The same 0001 as garage.migrations (a module name cannot be imported with `import`)."""

from importlib import import_module

Migration = import_module("garage.migrations.0001_initial").Migration
