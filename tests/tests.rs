//! The integration tests, as one program: the real binary against a real simulator process,
//! with the shared harness in `common`. Cargo builds no other program from `tests/`: a new
//! test file is a module declared here.

mod common;

mod batch;
mod clients;
mod excel;
mod hostile;
mod hostile_streams;
mod input_cases;
mod input_files;
mod inputs;
mod invalid_share;
mod levels;
mod manual;
mod metrics;
mod metrics_readers;
mod nights;
mod ops;
mod options;
mod pipeline;
mod properties;
mod report;
mod resume;
mod simulator;
mod store;
mod store_commands;
mod workbook_input;
