//! Which fixed windows an event time belongs to. Pure arithmetic, aligned
//! to the epoch; negative times work (floor division).

use dsl::plan::Millis;

/// `[start, end)` of a window.
pub type Bounds = (Millis, Millis);

/// The tumbling window of `size` holding `ts`: `[floor(ts/size)*size, +size)`.
pub fn tumbling(ts: Millis, size: Millis) -> Bounds {
    let start = ts.div_euclid(size) * size;
    (start, start.saturating_add(size))
}

/// Every hopping window of `size` starting at a multiple of `slide` that
/// holds `ts`, in ascending start order. Empty when `slide > size` leaves
/// `ts` in a gap between windows. Yields `ceil(size / slide)` windows at
/// most; the operator refuses specs over `dsl::limits::MAX_WINDOWS_PER_EVENT`
/// before it collects them.
pub fn hopping(ts: Millis, size: Millis, slide: Millis) -> impl Iterator<Item = Bounds> {
    let last_start = ts.div_euclid(slide) * slide;
    // Starts in (ts - size, last_start], stepping by `slide`.
    let earliest = ts.saturating_sub(size);
    let count = if last_start <= earliest {
        0
    } else {
        (last_start - earliest - 1) / slide + 1
    };
    let first_start = last_start - (count - 1).max(0) * slide;
    (0..count).map(move |i| {
        let start = first_start + i * slide;
        (start, start.saturating_add(size))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tumbling_aligns_to_the_epoch_also_before_it() {
        assert_eq!(tumbling(0, 10), (0, 10));
        assert_eq!(tumbling(9, 10), (0, 10));
        assert_eq!(tumbling(10, 10), (10, 20));
        assert_eq!(tumbling(-1, 10), (-10, 0));
        assert_eq!(tumbling(-10, 10), (-10, 0));
    }

    #[test]
    fn hopping_lists_every_window_holding_the_time() {
        assert_eq!(hopping(12, 10, 5).collect::<Vec<_>>(), [(5, 15), (10, 20)]);
        assert_eq!(hopping(10, 10, 5).collect::<Vec<_>>(), [(5, 15), (10, 20)]);
        assert_eq!(hopping(0, 10, 5).collect::<Vec<_>>(), [(-5, 5), (0, 10)]);
        assert_eq!(hopping(-3, 10, 5).collect::<Vec<_>>(), [(-10, 0), (-5, 5)]);
        assert_eq!(
            hopping(7, 3, 1).collect::<Vec<_>>(),
            [(5, 8), (6, 9), (7, 10)]
        );
    }

    #[test]
    fn hopping_with_gaps_skips_times_between_windows() {
        // Windows [0,2), [5,7), [10,12) ...
        assert_eq!(hopping(1, 2, 5).collect::<Vec<_>>(), [(0, 2)]);
        assert_eq!(hopping(3, 2, 5).count(), 0);
        assert_eq!(hopping(5, 2, 5).collect::<Vec<_>>(), [(5, 7)]);
    }
}
