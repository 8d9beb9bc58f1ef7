//! Where an event came from, as one `i64` in the batch's offset column:
//! the 1-based line of a file, or the record number of a Kafka message,
//! which leads back to its partition and offset (for evidence and
//! dead-letter records) and is the same on every run (for replay after a
//! crash).

/// Bits of a record number that hold the offset; the partition is above.
const OFFSET_BITS: u32 = 40;
const OFFSET_MASK: i64 = (1 << OFFSET_BITS) - 1;

/// The record number of message `offset` of `partition`: the partition in
/// the high bits, the offset in the low 40 (a trillion messages per
/// partition). Deterministic, and ordered like the offsets within a partition.
pub fn record_number(partition: i32, offset: i64) -> i64 {
    (i64::from(partition.max(0)) << OFFSET_BITS) | (offset & OFFSET_MASK)
}

/// The partition and offset of a record number.
pub fn split_record_number(number: i64) -> (i32, i64) {
    let partition = i32::try_from(number >> OFFSET_BITS).unwrap_or(i32::MAX);
    (partition, number & OFFSET_MASK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_numbers_lead_back_to_partition_and_offset() {
        for (partition, offset) in [(0, 0), (0, 41), (7, 1 << 39), (1000, 5)] {
            let number = record_number(partition, offset);
            assert_eq!(split_record_number(number), (partition, offset));
        }
        assert!(record_number(0, 5) < record_number(0, 6));
    }
}
