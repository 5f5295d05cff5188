"""cgroup v1 controllers, one module each; :mod:`.manager` drives them."""
