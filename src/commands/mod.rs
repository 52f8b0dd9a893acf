//! One module per command: each turns its arguments into settings, does
//! the work, and returns a printable result.

pub mod build;
pub mod config;
pub mod deploy;
pub mod destroy;
pub mod diff;
pub mod drift;
pub mod health;
pub mod publish;
pub mod render;
pub mod serve;
pub mod status;
pub mod validate;

use crate::exit::Interrupted;
use crate::ui::progress::Progress;

pub use crate::scope::{check_env, select_stacks, Scope};

/// What Ctrl-C leaves behind while `deploy` or `destroy` waits.
pub fn interrupted(progress: &Progress, env: &str) -> Interrupted {
    let running = progress.in_progress();
    let mut message = String::from("interrupted: stackctl stopped waiting");
    if running.is_empty() {
        message.push_str("; no CloudFormation operation was running");
    } else {
        for (stack, status) in &running {
            let status = if status.is_empty() {
                "in progress"
            } else {
                status
            };
            message.push_str(&format!(
                "\n  {stack}: {status}; CloudFormation goes on with it"
            ));
        }
        message.push_str(&format!(
            "\nhint: `stackctl status --env {env}` shows where it is; the next deploy or destroy waits for it to finish"
        ));
    }
    Interrupted { message }
}

/// The runtime AWS commands run on: one thread; stacks interleave at awaits.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::observe::{Observer, Operation};
    use crate::ui::progress::Mode;

    #[test]
    fn ctrl_c_names_what_cloudformation_goes_on_with() {
        let progress = Progress::new(Mode::Quiet, false);
        assert!(interrupted(&progress, "dev")
            .message
            .ends_with("no CloudFormation operation was running"));
        progress.begin("upload", Operation::Update, 30);
        progress.status("upload", "UPDATE_IN_PROGRESS");
        progress.begin("media", Operation::Create, 12);
        progress.end("media", "created in 3.0 s", true);
        let message = interrupted(&progress, "dev").message;
        assert_eq!(
            message,
            "interrupted: stackctl stopped waiting\n  upload: UPDATE_IN_PROGRESS; CloudFormation goes on with it\nhint: `stackctl status --env dev` shows where it is; the next deploy or destroy waits for it to finish"
        );
    }
}
