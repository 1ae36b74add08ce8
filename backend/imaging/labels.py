"""Connected components and outline tracing of binary masks, in numpy only.

scipy.ndimage is not an allowed dependency, so components are found on run lengths: runs
of True per row, linked to the overlapping runs of the next row, then merged by vectorised
min-label propagation with pointer jumping (a handful of passes whatever the shapes).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int32]


def label(mask: BoolArray, connectivity: int = 8) -> tuple[IntArray, int]:
    """Connected components (8- or 4-connected): (labels with 0 for background and 1..n, n)."""
    h, w = mask.shape
    out = np.zeros((h, w), dtype=np.int32)
    if h == 0 or w == 0 or not mask.any():
        return out, 0
    padded = np.zeros((h, w + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    diff = np.diff(padded, axis=1)
    rs, cs = np.nonzero(diff == 1)  # run starts (row, col), row-major so sorted
    _, ce = np.nonzero(diff == -1)  # run ends (exclusive), same order
    nruns = len(rs)
    stride = w + 2
    start_key = rs.astype(np.int64) * stride + cs
    end_key = rs.astype(np.int64) * stride + ce
    # For every run in row y+1, the runs of row y that touch it (8-connectivity) are a contiguous
    # block: those ending at or after its start - 1 and starting before its end + 1.
    has_prev = rs > 0
    idx = np.nonzero(has_prev)[0]
    prev_row = (rs[idx] - 1).astype(np.int64) * stride
    reach = 1 if connectivity == 8 else 0  # diagonal contact counts only for 8-connectivity
    lo = np.searchsorted(end_key, prev_row + cs[idx] - reach, side="right")  # ends after our start
    hi = np.searchsorted(start_key, prev_row + ce[idx] + reach, side="left")  # starts before our end
    counts = np.maximum(hi - lo, 0)
    src = np.repeat(idx, counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    dst = np.repeat(lo, counts) + offsets
    parent = np.arange(nruns)
    if len(src):
        while True:
            lab = parent.copy()
            m = np.minimum(lab[src], lab[dst])
            np.minimum.at(lab, src, m)
            np.minimum.at(lab, dst, m)
            # Pointer jumping until stable, so long chains collapse in log passes.
            while True:
                nxt = lab[lab]
                if np.array_equal(nxt, lab):
                    break
                lab = nxt
            if np.array_equal(lab, parent):
                break
            parent = lab
    roots, compact = np.unique(parent, return_inverse=True)
    run_label = (compact + 1).astype(np.int32)
    # Paint runs: a +label at the start and -label at the end of each run, cumulative sum per row.
    paint = np.zeros((h, w + 1), dtype=np.int32)
    np.add.at(paint, (rs, cs), run_label)
    np.add.at(paint, (rs, ce), -run_label)
    out[:] = np.cumsum(paint, axis=1)[:, :w]
    return out, len(roots)


def fill_holes(mask: BoolArray) -> BoolArray:
    """The mask with every background region not connected to the border set to True."""
    h, w = mask.shape
    bg = np.zeros((h + 2, w + 2), dtype=bool)
    bg[1:-1, 1:-1] = ~mask
    bg[0, :] = bg[-1, :] = bg[:, 0] = bg[:, -1] = True
    # 4-connected background: the dual of 8-connected foreground, so diagonal gaps don't leak.
    labels, _ = label(bg, connectivity=4)
    outside = labels == labels[0, 0]
    return np.asarray(~outside[1:-1, 1:-1])


def outer_boundary(mask: BoolArray) -> NDArray[np.float64]:
    """The outer outline of the component of `mask` as a closed polygon along pixel edges.

    `mask` must hold one 8-connected component without holes that matter (they are ignored).
    Vertices are pixel corners, so the polygon's area is exactly the pixel count of the filled
    component. Walks cracks between pixels keeping the component on the right (clockwise on
    screen); at a pixel corner touched diagonally it turns so that 8-connected pixels stay in
    one outline.
    """
    rows = np.nonzero(mask.any(axis=1))[0]
    cols = np.nonzero(mask.any(axis=0))[0]
    if len(rows) == 0:
        return np.zeros((0, 2))
    # Work in the bounding box: the walk converts the mask to Python lists.
    oy, ox = int(rows[0]), int(cols[0])
    crop = mask[oy : rows[-1] + 1, ox : cols[-1] + 1]
    h, w = crop.shape
    m = np.zeros((h + 2, w + 2), dtype=bool)
    m[1:-1, 1:-1] = crop
    # Topmost-leftmost pixel: its top edge is on the outer boundary; start at its top-left corner
    # heading right (+x) along that edge.
    y0, x0 = 1, int(np.argmax(m[1]))
    flat = m.tobytes()  # bytes: per-step indexing of numpy scalars is ~10x slower
    stride = w + 2

    def inside(px: int, py: int) -> bool:
        return bool(flat[py * stride + px])

    # Directions: 0 right, 1 down, 2 left, 3 up (screen coordinates).
    dx = (1, 0, -1, 0)
    dy = (0, 1, 0, -1)
    x, y, d = x0, y0, 0
    verts: list[tuple[int, int]] = []
    limit = 4 * (h + 2) * (w + 2) + 8
    for _ in range(limit):
        # The pixels ahead-left and ahead-right of corner (x, y) when heading d decide the turn.
        if d == 0:
            left, right = (x, y - 1), (x, y)
        elif d == 1:
            left, right = (x, y), (x - 1, y)
        elif d == 2:
            left, right = (x - 1, y), (x - 1, y - 1)
        else:
            left, right = (x - 1, y - 1), (x, y - 1)
        if inside(*left):  # turn left; also joins diagonal (8-connected) neighbours
            nd = (d + 3) % 4
        elif inside(*right):  # straight on
            nd = d
        else:  # turn right
            nd = (d + 1) % 4
        if nd != d or not verts:
            verts.append((x, y))
        d = nd
        x += dx[d]
        y += dy[d]
        # The start corner touches a single pixel of the component, so the outline passes it once.
        if x == x0 and y == y0:
            break
    offset = np.array([ox - 1.0, oy - 1.0])  # undo padding and crop
    return np.asarray(np.array(verts, dtype=np.float64) + offset, dtype=np.float64)
