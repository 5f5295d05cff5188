"""``dockyard compose``: :mod:`.command` (arguments, loading, config/build/down/ps/logs),
:mod:`.up` (up and down in dependency order), :mod:`.oneoff` (exec, run) and
:mod:`.lifecycle` (stop, start, pull)."""
