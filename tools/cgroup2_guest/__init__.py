"""The cgroup v2 test guest: a Debian 12 systemd host under qemu (see tools/cgroup2-guest).

``build`` makes the image (build.py), ``run`` boots it and runs one command (run.py); the
files placed in the guest and the guest-side lifecycle are in guestfiles.py; the mirror
comes from the host's apt sources (sources.py).
"""
