//! Column chunks written by hand for the columns of a `state` file that follow the sample
//! structure: every sample puts the same `period`, `step` and `time_ms` on each of its rows
//! and counts `neuron` up from 0. The generic Arrow column writers spend most of the
//! archive's CPU time copying, hashing and compressing those repeated values row by row
//! (measured: 1.1-1.3 s of 3.2-3.6 s for 1e8 rows); here they are encoded from one entry per
//! sample, in standard Parquet encodings every reader understands:
//!
//! - `period`, `step`, `time_ms`: RLE_DICTIONARY (a dictionary page of the distinct values in
//!   order and one RLE run per value) when runs average at least [`MIN_DICTIONARY_RUN`] rows,
//!   otherwise PLAIN (e.g. a population of one neuron, where every row has its own step);
//! - `neuron`: DELTA_BINARY_PACKED (blocks of 128, 4 miniblocks), which turns the ramp
//!   0, 1, ..., n-1 into zero-width blocks.
//!
//! Pages are zstd-compressed like the other columns and hold at most [`PAGE_ROWS`] rows.

use bytes::Bytes;
use parquet::basic::{Compression, Encoding, EncodingMask, PageType, ZstdLevel};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ColumnChunkMetaData, PageEncodingStats};
use parquet::file::page_index::offset_index::{OffsetIndexMetaData, PageLocation};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

/// Runs shorter than this on average are written PLAIN instead of as a dictionary.
pub(super) const MIN_DICTIONARY_RUN: usize = 8;
/// Rows per data page of a hand-written column.
pub(super) const PAGE_ROWS: usize = 1 << 20;

/// The rows of one sample (state) as the encoder receives them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct SampleRun {
    pub period: u32,
    pub step: i64,
    pub time_ms: f64,
    /// Rows of this sample (the recorded neurons, numbered from 0).
    pub rows: u32,
}

/// A column chunk encoded in memory, ready for `SerializedRowGroupWriter::append_column`.
pub(super) struct EncodedColumn {
    pub data: Bytes,
    pub close: ColumnCloseResult,
}

/// How the leading columns (`period`, `step`, `time_ms`, `neuron`) of a state file are
/// written.
#[derive(Clone)]
pub(super) struct SampleColumns {
    /// Descriptors of the four columns, in schema order.
    pub descr: [ColumnDescPtr; 4],
    pub zstd_level: i32,
    /// Row-group min/max statistics on `step`.
    pub step_statistics: bool,
    /// Rows per data page ([`PAGE_ROWS`]; smaller in tests).
    pub page_rows: usize,
}

impl SampleColumns {
    /// Encodes the four columns of one row group made of `runs`.
    pub fn encode(&self, runs: &[SampleRun]) -> Result<Vec<EncodedColumn>, ParquetError> {
        let rows: u64 = runs.iter().map(|r| r.rows as u64).sum();
        let [period_d, step_d, time_d, neuron_d] = &self.descr;
        let period = RunColumn::new(runs, |r| r.period);
        let step = RunColumn::new(runs, |r| r.step);
        let time_ms = RunColumn::new(runs, |r| r.time_ms);
        let step_stats = match (
            self.step_statistics,
            step.values.first(),
            step.values.last(),
        ) {
            (true, Some(&first), Some(&last)) => {
                let (min, max) = step
                    .values
                    .iter()
                    .fold((first, last), |(lo, hi), &v| (lo.min(v), hi.max(v)));
                Some(Statistics::Int64(
                    ValueStatistics::new(Some(min), Some(max), None, Some(0), false)
                        .with_backwards_compatible_min_max(true),
                ))
            }
            _ => None,
        };
        let (level, page_rows) = (self.zstd_level, self.page_rows.max(1));
        Ok(vec![
            period.encode(period_d, rows, level, page_rows, None, |v, out| {
                out.extend_from_slice(&v.to_le_bytes())
            })?,
            step.encode(step_d, rows, level, page_rows, step_stats, |v, out| {
                out.extend_from_slice(&v.to_le_bytes())
            })?,
            time_ms.encode(time_d, rows, level, page_rows, None, |v, out| {
                out.extend_from_slice(&v.to_le_bytes())
            })?,
            encode_neurons(neuron_d, runs, rows, level, page_rows)?,
        ])
    }
}

/// One column of a row group as runs of equal values (consecutive equal values merged).
struct RunColumn<T> {
    values: Vec<T>,
    counts: Vec<u64>,
}

impl<T: Copy + PartialEq> RunColumn<T> {
    fn new(runs: &[SampleRun], get: impl Fn(&SampleRun) -> T) -> Self {
        let mut values: Vec<T> = Vec::new();
        let mut counts: Vec<u64> = Vec::new();
        for r in runs.iter().filter(|r| r.rows > 0) {
            let v = get(r);
            match (values.last(), counts.last_mut()) {
                // Bitwise-equal neighbours only (so 0.0 and -0.0 stay apart; NaN never merges).
                (Some(last), Some(count)) if *last == v => *count += r.rows as u64,
                _ => {
                    values.push(v);
                    counts.push(r.rows as u64);
                }
            }
        }
        Self { values, counts }
    }

    /// Writes the column chunk: a dictionary and RLE indices for long runs, PLAIN otherwise.
    fn encode(
        &self,
        descr: &ColumnDescPtr,
        rows: u64,
        zstd_level: i32,
        page_rows: usize,
        statistics: Option<Statistics>,
        plain: impl Fn(T, &mut Vec<u8>),
    ) -> Result<EncodedColumn, ParquetError> {
        let dictionary = rows >= (MIN_DICTIONARY_RUN * self.values.len()) as u64;
        let mut chunk = ChunkBuilder::new(descr, zstd_level, statistics);
        if dictionary {
            let mut dict = Vec::with_capacity(self.values.len() * 8);
            for &v in &self.values {
                plain(v, &mut dict);
            }
            chunk.dictionary_page(dict, self.values.len())?;
            let width = bit_width(self.values.len().saturating_sub(1) as u64).max(1);
            let mut pages = PageCutter::new(&self.counts, page_rows);
            while let Some(page) = pages.next_page() {
                let mut buf = vec![width];
                for (index, count) in page.runs {
                    rle_run(&mut buf, index as u64, count, width);
                }
                chunk.data_page(buf, page.rows, Encoding::RLE_DICTIONARY)?;
            }
        } else {
            let mut pages = PageCutter::new(&self.counts, page_rows);
            while let Some(page) = pages.next_page() {
                let mut buf = Vec::with_capacity(page.rows * 8);
                for (index, count) in page.runs {
                    for _ in 0..count {
                        plain(self.values[index], &mut buf);
                    }
                }
                chunk.data_page(buf, page.rows, Encoding::PLAIN)?;
            }
        }
        chunk.finish(rows)
    }
}

/// Cuts runs into pages of at most `page_rows` rows.
struct PageCutter<'a> {
    counts: &'a [u64],
    page_rows: usize,
    /// Run index and rows of it already given out.
    at: (usize, u64),
}

struct PageRuns {
    rows: usize,
    /// (run index, rows of that run in this page)
    runs: Vec<(usize, u64)>,
}

impl<'a> PageCutter<'a> {
    fn new(counts: &'a [u64], page_rows: usize) -> Self {
        Self {
            counts,
            page_rows,
            at: (0, 0),
        }
    }

    fn next_page(&mut self) -> Option<PageRuns> {
        let mut page = PageRuns {
            rows: 0,
            runs: Vec::new(),
        };
        while page.rows < self.page_rows {
            let (i, used) = self.at;
            let Some(&count) = self.counts.get(i) else {
                break;
            };
            let take = (count - used).min((self.page_rows - page.rows) as u64);
            page.runs.push((i, take));
            page.rows += take as usize;
            self.at = if used + take == count {
                (i + 1, 0)
            } else {
                (i, used + take)
            };
        }
        (page.rows > 0).then_some(page)
    }
}

/// `neuron` of a state row group: 0..rows of every sample, DELTA_BINARY_PACKED.
fn encode_neurons(
    descr: &ColumnDescPtr,
    runs: &[SampleRun],
    rows: u64,
    zstd_level: i32,
    page_rows: usize,
) -> Result<EncodedColumn, ParquetError> {
    let mut chunk = ChunkBuilder::new(descr, zstd_level, None);
    let mut page: Vec<i32> = Vec::with_capacity(page_rows.min(rows as usize));
    let flush = |page: &mut Vec<i32>, chunk: &mut ChunkBuilder| {
        let buf = delta_binary_packed_i32(page);
        let n = page.len();
        page.clear();
        chunk.data_page(buf, n, Encoding::DELTA_BINARY_PACKED)
    };
    for r in runs {
        let mut neuron = 0u32;
        while neuron < r.rows {
            let room = u32::try_from(page_rows - page.len()).unwrap_or(u32::MAX);
            let end = neuron + room.min(r.rows - neuron);
            // u32 neuron indices are stored as INT32 (the Arrow UInt32 mapping).
            page.extend((neuron..end).map(|i| i as i32));
            neuron = end;
            if page.len() >= page_rows {
                flush(&mut page, &mut chunk)?;
            }
        }
    }
    if !page.is_empty() {
        flush(&mut page, &mut chunk)?;
    }
    chunk.finish(rows)
}

/// Assembles the pages of one column chunk and its metadata.
struct ChunkBuilder {
    descr: ColumnDescPtr,
    out: TrackedWrite<Vec<u8>>,
    zstd_level: i32,
    statistics: Option<Statistics>,
    dictionary_offset: Option<i64>,
    data_offset: Option<i64>,
    uncompressed: i64,
    locations: Vec<PageLocation>,
    first_row: i64,
    encodings: Vec<Encoding>,
    page_stats: Vec<PageEncodingStats>,
}

impl ChunkBuilder {
    fn new(descr: &ColumnDescPtr, zstd_level: i32, statistics: Option<Statistics>) -> Self {
        Self {
            descr: descr.clone(),
            out: TrackedWrite::new(Vec::new()),
            zstd_level,
            statistics,
            dictionary_offset: None,
            data_offset: None,
            uncompressed: 0,
            locations: Vec::new(),
            first_row: 0,
            encodings: vec![Encoding::RLE],
            page_stats: Vec::new(),
        }
    }

    fn compress(&self, buf: &[u8]) -> Result<Bytes, ParquetError> {
        zstd::bulk::compress(buf, self.zstd_level)
            .map(Bytes::from)
            .map_err(|e| ParquetError::External(Box::new(e)))
    }

    fn write(&mut self, page: Page, uncompressed: usize) -> Result<(u64, u64), ParquetError> {
        let mut writer = SerializedPageWriter::new(&mut self.out);
        let spec = writer.write_page(CompressedPage::new(page, uncompressed))?;
        writer.close()?;
        self.uncompressed += spec.uncompressed_size as i64;
        Ok((spec.offset, spec.compressed_size as u64))
    }

    fn note(&mut self, page_type: PageType, encoding: Encoding) {
        if !self.encodings.contains(&encoding) {
            self.encodings.push(encoding);
        }
        match self.page_stats.last_mut() {
            Some(s) if s.page_type == page_type && s.encoding == encoding => s.count += 1,
            _ => self.page_stats.push(PageEncodingStats {
                page_type,
                encoding,
                count: 1,
            }),
        }
    }

    fn dictionary_page(&mut self, plain: Vec<u8>, values: usize) -> Result<(), ParquetError> {
        let page = Page::DictionaryPage {
            buf: self.compress(&plain)?,
            num_values: count_u32(values)?,
            encoding: Encoding::PLAIN,
            is_sorted: false,
        };
        let (offset, _) = self.write(page, plain.len())?;
        self.dictionary_offset = Some(offset as i64);
        self.note(PageType::DICTIONARY_PAGE, Encoding::PLAIN);
        Ok(())
    }

    fn data_page(
        &mut self,
        buf: Vec<u8>,
        rows: usize,
        encoding: Encoding,
    ) -> Result<(), ParquetError> {
        let page = Page::DataPage {
            buf: self.compress(&buf)?,
            num_values: count_u32(rows)?,
            encoding,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        };
        let (offset, size) = self.write(page, buf.len())?;
        self.data_offset.get_or_insert(offset as i64);
        self.locations.push(PageLocation {
            offset: offset as i64,
            compressed_page_size: i32::try_from(size)
                .map_err(|_| ParquetError::General("page larger than 2 GiB".into()))?,
            first_row_index: self.first_row,
        });
        self.first_row += rows as i64;
        self.note(PageType::DATA_PAGE, encoding);
        Ok(())
    }

    fn finish(self, rows: u64) -> Result<EncodedColumn, ParquetError> {
        let data = Bytes::from(self.out.into_inner()?);
        let level = ZstdLevel::try_new(self.zstd_level)?;
        let mut builder = ColumnChunkMetaData::builder(self.descr)
            .set_compression(Compression::ZSTD(level))
            .set_encodings_mask(EncodingMask::new_from_encodings(self.encodings.iter()))
            .set_page_encoding_stats(self.page_stats)
            .set_total_compressed_size(data.len() as i64)
            .set_total_uncompressed_size(self.uncompressed)
            .set_num_values(rows as i64)
            .set_data_page_offset(self.data_offset.unwrap_or(0))
            .set_dictionary_page_offset(self.dictionary_offset);
        if let Some(s) = self.statistics {
            builder = builder.set_statistics(s);
        }
        let metadata = builder.build()?;
        Ok(EncodedColumn {
            close: ColumnCloseResult {
                bytes_written: data.len() as u64,
                rows_written: rows,
                metadata,
                bloom_filter: None,
                column_index: None,
                offset_index: Some(OffsetIndexMetaData {
                    page_locations: self.locations,
                    unencoded_byte_array_data_bytes: None,
                }),
            },
            data,
        })
    }
}

fn count_u32(n: usize) -> Result<u32, ParquetError> {
    u32::try_from(n).map_err(|_| ParquetError::General(format!("{n} values in one page")))
}

/// Bits needed for `v` (0 for 0).
fn bit_width(v: u64) -> u8 {
    (64 - v.leading_zeros()) as u8
}

fn uleb128(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// One RLE run of the RLE/bit-packing hybrid: `count` repetitions of `value`.
fn rle_run(out: &mut Vec<u8>, value: u64, count: u64, width: u8) {
    uleb128(out, count << 1);
    let bytes = (width as usize).div_ceil(8);
    out.extend_from_slice(&value.to_le_bytes()[..bytes]);
}

/// DELTA_BINARY_PACKED of INT32 values: blocks of 128 deltas in 4 miniblocks of 32, deltas
/// and their minimum taken with 32-bit wrapping arithmetic (as readers decode them).
pub(super) fn delta_binary_packed_i32(values: &[i32]) -> Vec<u8> {
    const BLOCK: usize = 128;
    const MINI: usize = 32;
    let mut out = Vec::with_capacity(64 + values.len() / 16);
    uleb128(&mut out, BLOCK as u64);
    uleb128(&mut out, (BLOCK / MINI) as u64);
    uleb128(&mut out, values.len() as u64);
    let Some(&first) = values.first() else {
        out.push(0); // first value 0 (zigzag)
        return out;
    };
    uleb128(&mut out, zigzag(first as i64));
    let mut deltas = [0i32; BLOCK];
    let mut prev = first;
    for block in values[1..].chunks(BLOCK) {
        let n = block.len();
        for (d, &v) in deltas.iter_mut().zip(block) {
            *d = v.wrapping_sub(prev);
            prev = v;
        }
        let min = deltas[..n].iter().copied().min().unwrap_or(0);
        uleb128(&mut out, zigzag(min as i64));
        let mut widths = [0u8; BLOCK / MINI];
        for (m, w) in widths.iter_mut().enumerate() {
            let lo = m * MINI;
            if lo < n {
                let or = deltas[lo..n.min(lo + MINI)]
                    .iter()
                    .fold(0u32, |acc, &d| acc | d.wrapping_sub(min) as u32);
                *w = bit_width(or as u64);
            }
        }
        out.extend_from_slice(&widths);
        for (m, &w) in widths.iter().enumerate() {
            let lo = m * MINI;
            if lo >= n || w == 0 {
                continue;
            }
            // A miniblock is always MINI values long; missing values are packed as 0.
            let mut acc: u64 = 0;
            let mut bits = 0u32;
            for k in lo..lo + MINI {
                let v = if k < n {
                    deltas[k].wrapping_sub(min) as u32 as u64
                } else {
                    0
                };
                acc |= v << bits;
                bits += w as u32;
                while bits >= 8 {
                    out.push(acc as u8);
                    acc >>= 8;
                    bits -= 8;
                }
            }
            debug_assert_eq!(bits, 0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uleb_and_zigzag() {
        let mut out = Vec::new();
        uleb128(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(i32::MIN as i64), u32::MAX as u64);
    }

    #[test]
    fn ramp_blocks_have_zero_width() {
        let ramp: Vec<i32> = (0..129).collect();
        let enc = delta_binary_packed_i32(&ramp);
        // header (128, 4, 129, zigzag(0)) + min delta 1 + four zero widths, no packed bits
        assert_eq!(enc, [0x80, 0x01, 4, 0x81, 0x01, 0, 2, 0, 0, 0, 0]);
    }

    #[test]
    fn page_cutter_splits_runs_at_page_size() {
        let counts = [PAGE_ROWS as u64 - 1, 3, 5];
        let mut cut = PageCutter::new(&counts, PAGE_ROWS);
        let a = cut.next_page().unwrap();
        assert_eq!(a.rows, PAGE_ROWS);
        assert_eq!(a.runs, vec![(0, PAGE_ROWS as u64 - 1), (1, 1)]);
        let b = cut.next_page().unwrap();
        assert_eq!(b.runs, vec![(1, 2), (2, 5)]);
        assert!(cut.next_page().is_none());
    }

    use arrow_array::{Array, Float64Array, Int32Array, Int64Array, UInt32Array};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::arrow_writer::ArrowWriterOptions;
    use parquet::arrow::ArrowWriter;
    use parquet::file::writer::SerializedFileWriter;
    use proptest::prelude::*;
    use std::sync::Arc;

    /// A file writer for `fields` whose columns are appended by hand.
    fn file_writer(fields: Vec<Field>) -> SerializedFileWriter<Vec<u8>> {
        let schema = Arc::new(Schema::new(fields));
        let options = ArrowWriterOptions::new().with_skip_arrow_metadata(true);
        let w = ArrowWriter::try_new_with_options(Vec::new(), schema, options).unwrap();
        w.into_serialized_writer().unwrap().0
    }

    /// Writes `groups` (each a list of samples) as row groups and reads every column back
    /// with the Arrow reader.
    fn round_trip(groups: &[Vec<SampleRun>], page_rows: usize) -> Vec<arrow_array::RecordBatch> {
        let mut w = file_writer(vec![
            Field::new("period", DataType::UInt32, false),
            Field::new("step", DataType::Int64, false),
            Field::new("time_ms", DataType::Float64, false),
            Field::new("neuron", DataType::UInt32, false),
        ]);
        let descr = w.schema_descr();
        let cols = SampleColumns {
            descr: [0, 1, 2, 3].map(|i| descr.column(i)),
            zstd_level: 1,
            step_statistics: true,
            page_rows,
        };
        for runs in groups {
            let mut group = w.next_row_group().unwrap();
            for c in cols.encode(runs).unwrap() {
                group.append_column(&c.data, c.close).unwrap();
            }
            group.close().unwrap();
        }
        let bytes = Bytes::from(w.into_inner().unwrap());
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
        // Row-group statistics on step are the min and max of each group's steps.
        for (g, runs) in groups.iter().enumerate() {
            let rg = builder.metadata().row_group(g);
            let steps: Vec<i64> = runs.iter().filter(|r| r.rows > 0).map(|r| r.step).collect();
            match rg.column(1).statistics() {
                Some(Statistics::Int64(s)) => {
                    assert_eq!(s.min_opt(), steps.iter().min());
                    assert_eq!(s.max_opt(), steps.iter().max());
                }
                other => assert!(steps.is_empty(), "{other:?}"),
            }
        }
        builder.build().unwrap().map(|b| b.unwrap()).collect()
    }

    fn expand(groups: &[Vec<SampleRun>]) -> (Vec<u32>, Vec<i64>, Vec<f64>, Vec<u32>) {
        let mut out = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for r in groups.iter().flatten() {
            for n in 0..r.rows {
                out.0.push(r.period);
                out.1.push(r.step);
                out.2.push(r.time_ms);
                out.3.push(n);
            }
        }
        out
    }

    fn column<T: Array + Clone + 'static>(
        batches: &[arrow_array::RecordBatch],
        i: usize,
    ) -> Vec<T> {
        batches
            .iter()
            .map(|b| b.column(i).as_any().downcast_ref::<T>().unwrap().clone())
            .collect()
    }

    fn sample_runs() -> impl Strategy<Value = Vec<SampleRun>> {
        // Long and short runs, so both dictionary and plain pages occur.
        prop::collection::vec((0u32..3, 0i64..4, prop_oneof![0u32..3, 5u32..40]), 0..30).prop_map(
            |v| {
                let (mut period, mut step) = (0u32, -3i64);
                v.into_iter()
                    .map(|(dp, ds, rows)| {
                        period += dp;
                        step += ds + 1;
                        SampleRun {
                            period,
                            step,
                            time_ms: step as f64 * 0.1,
                            rows,
                        }
                    })
                    .collect()
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn sample_columns_read_back_exactly(
            groups in prop::collection::vec(sample_runs(), 1..4),
            page_rows in 1usize..50,
        ) {
            let batches = round_trip(&groups, page_rows);
            let (period, step, time_ms, neuron) = expand(&groups);
            let got_p: Vec<u32> = column::<UInt32Array>(&batches, 0).iter().flat_map(|a| a.values().to_vec()).collect();
            let got_s: Vec<i64> = column::<Int64Array>(&batches, 1).iter().flat_map(|a| a.values().to_vec()).collect();
            let got_t: Vec<f64> = column::<Float64Array>(&batches, 2).iter().flat_map(|a| a.values().to_vec()).collect();
            let got_n: Vec<u32> = column::<UInt32Array>(&batches, 3).iter().flat_map(|a| a.values().to_vec()).collect();
            prop_assert_eq!(got_p, period);
            prop_assert_eq!(got_s, step);
            prop_assert_eq!(got_t.iter().map(|t| t.to_bits()).collect::<Vec<_>>(),
                time_ms.iter().map(|t| t.to_bits()).collect::<Vec<_>>());
            prop_assert_eq!(got_n, neuron);
        }

        #[test]
        fn delta_encoding_reads_back_exactly(
            values in prop::collection::vec(prop_oneof![
                any::<i32>(),
                -5i32..5,
                Just(i32::MIN),
                Just(i32::MAX),
            ], 0..700),
        ) {
            let mut w = file_writer(vec![Field::new("x", DataType::Int32, false)]);
            let descr = w.schema_descr().column(0);
            let mut chunk = ChunkBuilder::new(&descr, 1, None);
            chunk.data_page(delta_binary_packed_i32(&values), values.len(), Encoding::DELTA_BINARY_PACKED).unwrap();
            let col = chunk.finish(values.len() as u64).unwrap();
            let mut group = w.next_row_group().unwrap();
            group.append_column(&col.data, col.close).unwrap();
            group.close().unwrap();
            let bytes = Bytes::from(w.into_inner().unwrap());
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap().build().unwrap();
            let got: Vec<i32> = reader
                .flat_map(|b| b.unwrap().column(0).as_any().downcast_ref::<Int32Array>().unwrap().values().to_vec())
                .collect();
            prop_assert_eq!(got, values);
        }
    }

    #[test]
    fn long_runs_become_a_dictionary_and_short_runs_plain() {
        let run = |step, rows| SampleRun {
            period: 0,
            step,
            time_ms: step as f64 * 0.1,
            rows,
        };
        let long: Vec<SampleRun> = (0..10).map(|s| run(s, 100)).collect();
        let short: Vec<SampleRun> = (0..10).map(|s| run(s, 1)).collect();
        let mut w = file_writer(vec![
            Field::new("period", DataType::UInt32, false),
            Field::new("step", DataType::Int64, false),
            Field::new("time_ms", DataType::Float64, false),
            Field::new("neuron", DataType::UInt32, false),
        ]);
        let descr = w.schema_descr();
        let cols = SampleColumns {
            descr: [0, 1, 2, 3].map(|i| descr.column(i)),
            zstd_level: 1,
            step_statistics: false,
            page_rows: PAGE_ROWS,
        };
        let a = cols.encode(&long).unwrap();
        let b = cols.encode(&short).unwrap();
        assert!(a[1].close.metadata.dictionary_page_offset().is_some());
        assert!(b[1].close.metadata.dictionary_page_offset().is_none());
        // period is one run in both
        assert!(b[0].close.metadata.dictionary_page_offset().is_some());
        assert!(a[1].close.metadata.statistics().is_none());
        let _ = w.next_row_group();
    }
}
