"""The parts of :func:`aiohcs.operation.run_operation`, one concept per module.

* :mod:`._waiter`: the waiter of one operation, an explicit state machine.
* :mod:`._start`: the three ways of starting an operation, behind one switch.
* :mod:`._poll`: the fast path for operations that complete within microseconds.
"""
