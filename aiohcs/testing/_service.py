"""Whether this process uses hcsim in-process or as a client of an hcsim service."""

from __future__ import annotations

__all__ = ["service_socket"]


def service_socket() -> str | None:
    """The socket of the hcsim service this process is a client of; None when in-process.

    A process becomes a client when ``AIOHCS_HCSIM=PATH`` is set as it imports aiohcs's
    binding (the ``aiohcs`` tool also uses a service live on the default socket). Then:

    * compute systems and processes live in the service and are shared with its other
      clients; they outlive this process (unless ShouldTerminateOnLastHandleClosed);
    * :func:`~aiohcs.testing.reset` resets the whole emulated host, for every client;
    * :func:`~aiohcs.testing.counts`: ``systems`` and ``processes`` are the service's,
      the others (operations, handles, pipes, documents) this process's own;
    * the service stopping or dying is ServiceDisconnected on every handle and operation,
      and every later call fails with it.
    """
    from aiohcs import _hcsim_service

    return _hcsim_service.service_socket()
