"""faas.model.timestamp_ms: the one millisecond timestamp format Lambda answers and logs with."""

import datetime as dt

from faas.model import timestamp_ms


def test_timestamp_ms_truncates_to_the_millisecond_with_the_zone_suffix():
    value = dt.datetime(2020, 4, 10, 19, 6, 32, 563999, tzinfo=dt.timezone.utc)
    assert timestamp_ms(value) == "2020-04-10T19:06:32.563Z"
    assert timestamp_ms(value, "+0000") == "2020-04-10T19:06:32.563+0000"
    assert timestamp_ms(value.replace(microsecond=7000)) == "2020-04-10T19:06:32.007Z"
