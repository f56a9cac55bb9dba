"""A small LRU cache keyed by image id (pipeline outputs, gallery codes,
scene embeddings of the searcher and the query-major loop)."""
from collections import OrderedDict
from typing import Callable, Hashable, Optional


class LRUCache:
    """LRU cache with a loader.

    Args:
        load (callable, optional): key -> value, called on a miss of
            ``cache[key]``; :meth:`get` takes a loader per call instead.
        size (int): number of kept values; 0 disables caching.
    """

    def __init__(self, load: Optional[Callable] = None, size: int = 0) -> None:
        self.load = load
        self.size = int(size)
        self._items: OrderedDict = OrderedDict()

    def __getitem__(self, key: Hashable):
        return self.get(key, lambda: self.load(key))

    def get(self, key: Optional[Hashable], load: Callable[[], object]):
        """The value of ``key``, from ``load()`` on a miss (a None key is
        never cached)."""
        if key is not None and key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        item = load()
        if key is not None and self.size > 0:
            self._items[key] = item
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        return item

    def __len__(self) -> int:
        return len(self._items)
