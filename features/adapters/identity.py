"""Who is who: anonymous ids joined to the known users they turned out to be.

Every export links ids its own way (Segment identify / alias, Mixpanel ``$identify`` /
``$merge`` / ``$user_id`` + ``$device_id``, Amplitude ``user_id`` + ``device_id``, PostHog
``$identify``), but all of them say "these ids are one person". A union-find over ids
collects those statements; each cluster is then represented by its first known user id
(in file order), so anonymous activity before a login lands on the user who logged in.
Clusters without a known id stay unresolved: the adapter counts them, never guesses.
"""

from __future__ import annotations


class IdentityGraph:
    """Union-find of ids with a preferred representative: the first id marked known."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}
        self._known: dict[str, int] = {}  # id -> order in which it was first marked known
        self._representative: dict[str, str] | None = None
        self.links = 0  # statements that joined two different clusters

    def _find(self, node: str) -> str:
        parent = self._parent.setdefault(node, node)
        root = node
        while parent != root:
            root = parent
            parent = self._parent[root]
        while node != root:  # path compression
            self._parent[node], node = root, self._parent[node]
        return root

    def link(self, first: str | None, second: str | None) -> None:
        """`first` and `second` are the same person (either may be missing)."""
        if not first or not second or first == second:
            return
        a, b = self._find(first), self._find(second)
        if a != b:
            self._parent[b] = a
            self.links += 1
            self._representative = None

    def mark_known(self, node: str | None) -> None:
        """`node` is a real user id (not an anonymous / device id)."""
        if node and node not in self._known:
            self._known[node] = len(self._known)
            self._parent.setdefault(node, node)
            self._representative = None

    def resolve(self, node: str | None) -> str | None:
        """The user id `node` belongs to, or None when its cluster has no known id."""
        if not node:
            return None
        if self._representative is None:
            self._representative = {}
            for known in sorted(self._known, key=self._known.__getitem__):
                self._representative.setdefault(self._find(known), known)
        if node not in self._parent:
            return None
        return self._representative.get(self._find(node))
