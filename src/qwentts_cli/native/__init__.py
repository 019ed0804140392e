"""Native code: C++ sources compiled once against the installed torch (build.py), and what uses
them (int8_pack.py). Everything here is optional: where a build is impossible the Python paths run.
"""
