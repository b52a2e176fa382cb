"""Pairing frames with the robot state of their instant (vla_ros.state_sync)."""

from vla_ros.state_sync import StampedBuffer


def test_nearest_sample_by_stamp_not_by_arrival():
    buf: StampedBuffer[str] = StampedBuffer(size=4)
    assert buf.nearest(1.0) is None and not buf.covers(1.0)
    for stamp, name in ((1.0, "a"), (1.0333, "b"), (1.1, "d"), (1.0667, "c")):  # "c" arrives late
        buf.add(stamp, name)
    assert buf.nearest(1.07) == (1.0667, "c")
    assert buf.nearest(0.5) == (1.0, "a") and buf.nearest(5.0) == (1.1, "d")


def test_covers_means_no_closer_sample_can_come():
    buf: StampedBuffer[int] = StampedBuffer()
    buf.add(2.0, 0)
    assert not buf.covers(2.0333)  # the frame's own state is still on its way: worth waiting for
    buf.add(2.0333, 1)
    assert buf.covers(2.0333) and buf.covers(2.01)


def test_only_the_last_samples_are_kept():
    buf: StampedBuffer[int] = StampedBuffer(size=3)
    for i in range(10):
        buf.add(float(i), i)
    assert [v for _, v in buf.samples] == [7, 8, 9]
    assert buf.nearest(0.0) == (7.0, 7)
    buf.clear()
    assert buf.nearest(0.0) is None
