"""One object per running event loop: the loop's hub, appender or ticker.

Such objects hold futures, tasks and asyncio Redis clients, which belong to the loop that made them; daphne runs
one loop, but each async test (and `asyncio.run`) has its own. Keyed weakly by the loop, an object goes with its
loop instead of outliving it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    """Called, the running loop's object, made by `factory` the first time that loop asks."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self.factory = factory
        self.objects: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()

    def __call__(self) -> T:
        loop = asyncio.get_running_loop()
        found = self.objects.get(loop)
        if found is None:
            found = self.objects[loop] = self.factory()
        return found

    def of_open_loops(self) -> list[T]:
        """The objects of this process's loops that are not closed (for health reports, from any thread)."""
        return [found for loop, found in list(self.objects.items()) if not loop.is_closed()]
