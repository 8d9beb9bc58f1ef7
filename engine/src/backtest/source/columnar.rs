//! CSV and Parquet files as a DataFusion listing table: the declared fields
//! as the files hold them, the event time as a timestamp, filtered to the
//! time range (pushed down to the scan) and sorted by event time.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType as ArrowType, Field as ArrowField, Schema, TimeUnit};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::functions_window::expr_fn::row_number;
use datafusion::prelude::{cast, coalesce, ident, lit, try_cast, Expr, SessionContext};
use datafusion::scalar::ScalarValue;
use dsl::plan::StreamPlan;

use super::{millis_type, range_filter, Format, HistoryInput};
use crate::backtest::time_range::TimeRange;

/// The event time of a row, as a millisecond timestamp (null when the row
/// has none or it cannot be read).
pub(super) const TIME_COLUMN: &str = "__eddy_time";
/// The row's 1-based position in the input (files in path order), counted
/// after the time range: the events' offset, and the tie-break of the sort.
pub(super) const ROW_COLUMN: &str = "__eddy_row";

/// The plan: scan, time range, row numbers, sort by (time, row).
pub(super) async fn sorted_frame(
    ctx: &SessionContext,
    stream: &StreamPlan,
    input: &HistoryInput,
    range: &TimeRange,
) -> Result<DataFrame, DataFusionError> {
    let url = ListingTableUrl::parse(&input.path)?;
    let format: Arc<dyn FileFormat> = match input.format {
        Format::Csv => Arc::new(CsvFormat::default().with_has_header(true)),
        _ => Arc::new(ParquetFormat::default()),
    };
    let options = ListingOptions::new(format).with_file_extension(input.file_extension());
    let inferred = options.infer_schema(&ctx.state(), &url).await?;
    let file_schema = match input.format {
        // Every CSV cell is read as text and cast per row afterwards, so that
        // one bad cell rejects its row instead of failing the scan. (CSV
        // columns are matched by position, hence the inferred header.)
        Format::Csv => Arc::new(as_text(&inferred)),
        _ => inferred,
    };
    let table = ListingTable::try_new(
        ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(file_schema.clone()),
    )?;

    let mut columns: Vec<Expr> = stream
        .fields
        .iter()
        .map(|field| match file_schema.field_with_name(&field.name) {
            Ok(_) => ident(&field.name),
            Err(_) => lit(ScalarValue::Null).alias(&field.name),
        })
        .collect();
    columns.push(event_time(&file_schema, &stream.time_field).alias(TIME_COLUMN));

    let mut frame = ctx.read_table(Arc::new(table))?.select(columns)?;
    if let Some(filter) = range_filter(ident(TIME_COLUMN), range, true) {
        frame = frame.filter(filter)?;
    }
    frame
        .window(vec![row_number().alias(ROW_COLUMN)])?
        .sort(vec![
            // Rows without a time first: they are rejected straight away.
            ident(TIME_COLUMN).sort(true, true),
            ident(ROW_COLUMN).sort(true, false),
        ])
}

/// The schema with every column as nullable text.
fn as_text(schema: &Schema) -> Schema {
    Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| ArrowField::new(f.name(), ArrowType::Utf8, true))
            .collect::<Vec<_>>(),
    )
}

/// The time field as a millisecond timestamp, from what the files hold:
/// a timestamp (a plain column when already in milliseconds, so that
/// Parquet statistics prune row groups), integer epoch milliseconds, or
/// text (epoch milliseconds or an RFC 3339 time).
fn event_time(file_schema: &Schema, name: &str) -> Expr {
    let Ok(field) = file_schema.field_with_name(name) else {
        return lit(ScalarValue::TimestampMillisecond(None, None));
    };
    let column = ident(name);
    match field.data_type() {
        ArrowType::Timestamp(TimeUnit::Millisecond, None) => column,
        ty if ty.is_integer() => cast(cast(column, ArrowType::Int64), millis_type()),
        ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View => coalesce(vec![
            try_cast(try_cast(column.clone(), ArrowType::Int64), millis_type()),
            try_cast(column, millis_type()),
        ]),
        _ => try_cast(column, millis_type()),
    }
}
