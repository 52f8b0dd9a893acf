//! stackctl: declarative AWS stacks rendered to CloudFormation through tera.
//!
//! The modules follow the pipeline: [`model`] (load what the user wrote),
//! [`validate`] (whole-project checks), [`render`] (CloudFormation), [`build`]
//! (Lambda zips), [`publish`] (zips to S3), [`deploy`] (the engine that
//! applies and deletes stacks), [`diff`] (deployed against rendered),
//! [`health`] (checks of a deployed environment), with
//! [`aws`] as the boundary to AWS, [`emulator`] for the local one, [`ui`]
//! for progress and questions, [`commands`] (one per verb), and [`output`]
//! and [`exit`] at the edge.

// A located `Diagnostic` is 128 bytes and only built when input is wrong;
// boxing it everywhere would cost readability for no measurable gain.
#![allow(clippy::result_large_err)]

pub mod aws;
pub mod build;
pub mod cli;
pub mod commands;
pub mod deploy;
pub mod diagnostics;
pub mod diff;
pub mod emulator;
pub mod exit;
pub mod health;
pub mod image;
pub mod kinds;
pub mod limits;
pub mod migrations;
pub mod model;
pub mod names;
pub mod output;
pub mod publish;
pub mod render;
pub mod scope;
pub mod serve;
pub mod servers;
pub mod ui;
pub mod validate;

use clap::Parser;
use cli::{Cli, Command, OutputFormat};
use diagnostics::Diagnostics;
use exit::ExitStatus;
use output::Printer;
use std::ffi::OsString;

/// Runs stackctl with `args` (the program name first) and returns how it ended.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitStatus {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitStatus::Invalid
            } else {
                ExitStatus::Success
            };
        }
    };
    let printer = Printer {
        format: cli.global.output,
        quiet: cli.global.quiet,
    };
    if cli.global.timings {
        ui::timings::enable();
    }
    let status = match dispatch(cli, printer) {
        Ok(status) => status,
        Err(err) => {
            report(&err, printer);
            exit::status_of(&err)
        }
    };
    if let Some(timings) = ui::timings::report() {
        eprintln!("{timings}");
    }
    status
}

fn dispatch(cli: Cli, printer: Printer) -> anyhow::Result<ExitStatus> {
    let Cli { global, command } = cli;
    if global.output == OutputFormat::Markdown && !matches!(command, Command::Diff(_)) {
        return Err(exit::UsageError::new(
            "--output markdown renders `diff` only (a pull-request comment)\nhint: use --output text or --output json with this command",
        )
        .into());
    }
    let root = model::find_root(global.project_dir.as_deref())
        .map_err(|e| exit::UsageError::new(e.to_string()))?;
    match command {
        Command::Deploy(args) => {
            let report = commands::deploy::run(&root, args, &global, printer)?;
            printer.result(&report)?;
            return Ok(report.status());
        }
        Command::Diff(args) => {
            let (report, status) = commands::diff::run(&root, args, &global, printer)?;
            if printer.format == OutputFormat::Markdown {
                print!("{}", report.markdown());
            } else {
                printer.result(&report)?;
            }
            return Ok(status);
        }
        Command::Drift(args) => {
            let (report, status) = commands::drift::run(&root, args, &global, printer)?;
            printer.result(&report)?;
            return Ok(status);
        }
        Command::Status(args) => {
            printer.result(&commands::status::run(&root, args, &global, printer)?)?
        }
        Command::Outputs(args) => printer.result(&commands::status::OutputsReport(
            commands::status::run(&root, args, &global, printer)?,
        ))?,
        Command::Health(args) if args.print_policy => {
            printer.result(&commands::health::policy(&root, args)?)?
        }
        Command::Health(args) => {
            let (report, status) = commands::health::run(&root, args, &global, printer)?;
            printer.result(&report)?;
            return Ok(status);
        }
        Command::Destroy(args) => {
            let report = commands::destroy::run(&root, args, &global, printer)?;
            printer.result(&report)?;
            return Ok(report.status());
        }
        Command::Validate => printer.result(&commands::validate::run(&root)?)?,
        Command::Render(args) => printer.result(&commands::render::run(&root, args)?)?,
        Command::Build(args) => printer.result(&commands::build::run(&root, args, printer)?)?,
        Command::Publish(args) => {
            let endpoint = global.endpoint_url.as_deref();
            printer.result(&commands::publish::run(&root, args, endpoint, printer)?)?
        }
        Command::Config(args) => printer.result(&commands::config::run(
            &root,
            args,
            global.endpoint_url.as_deref(),
        )?)?,
    }
    Ok(ExitStatus::Success)
}

/// Prints an error: located diagnostics as such, anything else with its causes.
fn report(err: &anyhow::Error, printer: Printer) {
    let diags = err.downcast_ref::<Diagnostics>();
    if printer.format == OutputFormat::Json {
        let value = match diags {
            Some(d) => serde_json::json!({"error": "validation failed", "diagnostics": d}),
            None => serde_json::json!({"error": format!("{err:#}")}),
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return;
    }
    match diags {
        Some(d) => eprintln!("{d}"),
        None => {
            let text = format!("{err:#}");
            eprintln!("error: {text}");
        }
    }
}
