"""Ending an asyncio event loop that ran on a thread of its own, in order.

The MQTT endpoint of the emulator and the simulator's device connections each run a loop on a thread. When such
a loop stops, work may still be in flight on it: a TLS handshake, a reconnect, a keep-alive timer. Closing the
loop with that work pending leaves coroutines that are finalised later, by the garbage collector, and whose
clean-up then calls into a closed loop (``RuntimeError: Event loop is closed`` from a transport's ``close``).
:func:`finish_loop` cancels that work and lets it run its clean-up while the loop still runs, then closes it.
"""

from __future__ import annotations

import asyncio


def finish_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel every task still on the stopped ``loop``, wait for them to end, and close it (its own thread)."""
    if loop.is_closed():
        return
    try:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        # One more pass for what the cancellations scheduled with call_soon (transports reporting their loss).
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        loop.close()
