"""Everything public has a docstring."""

import inspect

import shmemaphore
import shmemaphore.conformance

CLASSES = ("Server", "Client", "Response", "Reservation", "Channel")


def test_every_public_name_has_a_docstring():
    missing = []
    for name in shmemaphore.__all__:
        obj = getattr(shmemaphore, name)
        if isinstance(obj, (int, str)):
            continue
        if not (obj.__doc__ or "").strip():
            missing.append(name)
        if name in CLASSES:
            for attr, value in vars(obj).items():
                if attr.startswith("_"):
                    continue
                if not (getattr(value, "__doc__", "") or "").strip():
                    missing.append(f"{name}.{attr}")
    assert not missing, missing
    assert inspect.getdoc(shmemaphore.conformance.main)
