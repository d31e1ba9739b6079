"""Concurrency limits: reserved concurrency per function and the node-wide limit, counted in flight.

Pure bookkeeping with no awaits, so admitting and releasing are atomic on the event loop.
"""

from __future__ import annotations

from collections import defaultdict

from faas.errors import InvalidParameterValue, TooManyRequests

# Lambda keeps 100 executions unreserved; a small node keeps a tenth of its limit.
UNRESERVED_MINIMUM = 100


def unreserved_minimum(node_limit: int) -> int:
    return min(UNRESERVED_MINIMUM, node_limit // 10)


class Limiter:
    def __init__(self, node_limit: int) -> None:
        self.node_limit = node_limit
        self._reserved: dict[str, int] = {}  # function -> reserved concurrency
        self._in_flight: dict[str, int] = defaultdict(int)
        self._unreserved_in_flight = 0

    # -- configuration -----------------------------------------------------------------------------

    @property
    def reserved_total(self) -> int:
        return sum(self._reserved.values())

    @property
    def unreserved_limit(self) -> int:
        return self.node_limit - self.reserved_total

    def check_reservation(self, name: str, reserved: int) -> None:
        """Refuse a reservation that would leave too little for every other function."""
        others = self.reserved_total - self._reserved.get(name, 0)
        room = self.node_limit - unreserved_minimum(self.node_limit) - others
        if reserved > room:
            raise InvalidParameterValue(
                f"Specified ReservedConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of "
                f"[{unreserved_minimum(self.node_limit)}]."
            )

    def set_reserved(self, name: str, reserved: int | None) -> None:
        if reserved is None:
            self._reserved.pop(name, None)
        else:
            self._reserved[name] = reserved

    def reserved(self, name: str) -> int | None:
        return self._reserved.get(name)

    # -- the invoke path -----------------------------------------------------------------------------

    def admit(self, name: str) -> bool:
        """Count one more invocation in flight, or raise 429. Returns whether it used the unreserved pool
        (hand it back to release(): the reservation may change while the invocation runs)."""
        reserved = self._reserved.get(name)
        if reserved is not None:
            if self._in_flight[name] >= reserved:
                raise TooManyRequests("Rate Exceeded.", Reason="ReservedFunctionConcurrentInvocationLimitExceeded")
            unreserved = False
        elif self._unreserved_in_flight >= self.unreserved_limit:
            raise TooManyRequests("Rate Exceeded.", Reason="ConcurrentInvocationLimitExceeded")
        else:
            self._unreserved_in_flight += 1
            unreserved = True
        self._in_flight[name] += 1
        return unreserved

    def release(self, name: str, unreserved: bool) -> None:
        self._in_flight[name] -= 1
        if self._in_flight[name] <= 0:
            del self._in_flight[name]
        if unreserved:
            self._unreserved_in_flight -= 1

    def in_flight_by_function(self) -> dict[str, int]:
        return dict(self._in_flight)

    def in_flight(self, name: str | None = None) -> int:
        return self._in_flight.get(name, 0) if name else sum(self._in_flight.values())
