"""One module per dashboard page (registered in dashboard/pages/__init__.py). Each page reads the
UserScope the entry established for this run (`dashboard.scope.current()`) and passes it to
every data function."""
