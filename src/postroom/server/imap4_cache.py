"""What IMAP4 sessions read again and again, kept by the node (one HeaderCache and one
ListingCache per ImapService).

A client that lists a folder asks for the same header fields of the same messages at every
visit (FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (From Subject Date ...)])), as Dovecot's
cache file answers them. The node keeps the header blocks it read, by message entry id, up to
a bound in octets, least recently used out first. Nothing is ever stale: an entry id is never
reused and its message never changes (a copy is a new entry; flags live in the folder
listing, not here), so an expunged message's block just ages out. A session only asks for ids
of its own folders' listings, so no mailbox sees another's blocks.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Generic, Hashable, Iterable, TypeVar

from ..model.imap import FolderMessage

CACHE_OCTETS = 16 << 20  # each of a node's three octet caches (some 50,000 messages' headers)
_ENTRY_OVERHEAD = 100  # octets an entry costs beside its block (key, bytes object, dict slot)
K = TypeVar("K", bound=Hashable)


class OctetCache(Generic[K]):
    """Octets by key, least recently used out first, within `limit` octets. The node keeps three:
    header blocks by message entry id (HeaderCache), the FETCH items a plan renders the same for
    every session by (plan serial, message entry id) (RenderedCache, imap4_fetch.Plan.fixed), and
    the messages FETCH and SEARCH read whole, by entry id (BodyCache, the small ones: an entry
    over 1/64 of the bound is never kept). None is ever stale, for the reason above."""

    def __init__(self, limit: int = CACHE_OCTETS) -> None:
        self.limit = limit
        self._blocks: OrderedDict[K, bytes] = OrderedDict()
        self._octets = 0

    def __len__(self) -> int:
        return len(self._blocks)

    @property
    def octets(self) -> int:
        return self._octets

    def get_many(self, keys: Iterable[K]) -> dict[K, bytes]:
        """The octets kept under these keys (each becomes the most recently used)."""
        blocks, found = self._blocks, {}
        for key in keys:
            block = blocks.get(key)
            if block is not None:
                blocks.move_to_end(key)
                found[key] = block
        return found

    def put_many(self, found: dict[K, bytes]) -> None:
        blocks = self._blocks
        for key, block in found.items():
            size = len(block) + _ENTRY_OVERHEAD
            if size > self.limit // 64:  # a huge one would push out many: not kept
                continue
            old = blocks.pop(key, None)
            if old is not None:
                self._octets -= len(old) + _ENTRY_OVERHEAD
            blocks[key] = block
            self._octets += size
        while self._octets > self.limit and blocks:
            _, block = blocks.popitem(last=False)
            self._octets -= len(block) + _ENTRY_OVERHEAD


HeaderCache = OctetCache[int]
RenderedCache = OctetCache[tuple[int, int]]
BodyCache = OctetCache[int]  # whole messages by entry id, each at most 1/64 of the bound


LISTING_CACHE_MESSAGES = 50_000  # folder listings kept by a node, in messages (some 20 MiB)


class ListingCache:
    """Folder listings by folder id, each with the highest_modseq read before it (the listing
    is the folder as of that modseq, or newer): a SELECT of a folder whose highest_modseq is
    the same takes the listing as it is; one whose modseq moved reads only what changed since
    (FolderStore.folder_changes). At most `limit` messages, least recently used out first.
    The lists are shared: nobody changes one (a session builds its own view from it)."""

    def __init__(self, limit: int = LISTING_CACHE_MESSAGES) -> None:
        self.limit = limit
        self._listings: OrderedDict[int, tuple[int, list[FolderMessage]]] = OrderedDict()
        self._messages = 0

    def get(self, folder_id: int) -> tuple[int, list[FolderMessage]] | None:
        found = self._listings.get(folder_id)
        if found is not None:
            self._listings.move_to_end(folder_id)
        return found

    def put(self, folder_id: int, modseq: int, messages: list[FolderMessage]) -> None:
        old = self._listings.pop(folder_id, None)
        if old is not None:
            self._messages -= len(old[1])
        if len(messages) > self.limit:
            return
        self._listings[folder_id] = (modseq, messages)
        self._messages += len(messages)
        while self._messages > self.limit:
            _, (_, dropped) = self._listings.popitem(last=False)
            self._messages -= len(dropped)
