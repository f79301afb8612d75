"""A film with a corrupt packet finishes: the lost frame repeats its neighbour, times stay exact."""

from __future__ import annotations

import av
import numpy as np
from test_video_support import X264, assert_streams_intact, make_testsrc, round_trip, y_planes


def corrupt_middle_packet(src, dst):
    """Copy ``src`` with the payload of a packet in the middle overwritten by random bytes.
    Returns (pts of that packet, number of video packets)."""
    with av.open(str(src)) as c:
        packets = [(p.pts, p.pos, p.size) for p in c.demux(video=0) if p.size]
    pts, pos, size = packets[len(packets) // 2]
    data = bytearray(src.read_bytes())
    data[pos : pos + size] = np.random.default_rng(0).integers(0, 256, size, np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return pts, len(packets)


def test_corrupt_packet_is_concealed_and_the_film_finishes(tmp_path):
    from vidcolor.video.decode import decode_segment
    from vidcolor.video.probe import probe
    from vidcolor.video.segments import plan_segments

    good = make_testsrc(tmp_path / "good.mp4", size="160x96", seconds=2, extra=X264)
    bad = tmp_path / "bad.mp4"
    lost_pts, n_packets = corrupt_middle_packet(good, bad)

    info = probe(str(bad))
    assert info.frame_count == n_packets == 50
    plan = plan_segments(info, segment_seconds=1.0, overlap=2)
    concealed = []
    for seg in plan:
        dec = decode_segment(str(bad), seg, model_size=32)
        assert len(dec.pts) == seg.n_decoded  # every frame, the lost one filled in
        concealed += dec.concealed
    assert concealed == [lost_pts]

    out, _ = round_trip(bad, tmp_path / "out.mkv", codec="ffv1")
    assert_streams_intact(bad, out)  # same frame count and times, output decodes cleanly
    frames = y_planes(out)
    k = sorted(info.frame_pts).index(lost_pts)
    assert np.array_equal(frames[k], frames[k - 1])  # the neighbour repeated
    assert not np.array_equal(frames[k + 1], frames[k])  # and the film moves on after it
