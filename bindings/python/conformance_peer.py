#!/usr/bin/env python3
"""The Python conformance peer, as a script: the same as
``python3 -m shmemaphore.conformance`` (docs/CONFORMANCE.md).

    conformance_peer.py server --channel CH --requests FILE --count N --timeout SECONDS
    conformance_peer.py client --channel CH --dir DIR
"""
import sys

from shmemaphore.conformance import main

if __name__ == "__main__":
    sys.exit(main())
