//! Questions on the terminal. Anything destructive asks, unless `--yes`;
//! without a terminal to ask on, commands refuse before doing anything
//! (see [`require_terminal`]).

use crate::deploy::observe::Observer;
use crate::deploy::Confirm;
use crate::exit::UsageError;
use std::io::{BufRead, IsTerminal, Write};

/// Whether questions can be asked: stdin and stderr are terminals.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Fails with a usage error when a command would need to ask (`yes` not
/// given) but no terminal is there to ask on.
pub fn require_terminal(yes: bool, what: &str) -> Result<(), UsageError> {
    if yes || interactive() {
        return Ok(());
    }
    Err(no_terminal(what))
}

/// The error of a command (`what`) that would ask for confirmation, with
/// no terminal to ask on.
pub fn no_terminal(what: &str) -> UsageError {
    UsageError::new(format!(
        "{what} asks for confirmation, and stdin is not a terminal\nhint: pass --yes to go ahead without asking (in CI, say)"
    ))
}

/// Reads one answer line from stdin after printing `question` on stderr.
fn ask(question: &str) -> String {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{question} ");
    let _ = err.flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    line.trim().to_string()
}

/// Asks a yes/no question (default no), with live progress paused.
pub struct TerminalConfirm<'a> {
    /// The progress view to pause.
    pub view: &'a dyn Observer,
}

impl Confirm for TerminalConfirm<'_> {
    fn confirm(&self, question: &str) -> bool {
        let mut yes = false;
        self.view.suspend(&mut || {
            let answer = ask(&format!("{question} [y/N]"));
            yes = matches!(answer.to_ascii_lowercase().as_str(), "y" | "yes");
        });
        yes
    }
}

/// Asks the user to type `expected` (an environment's name) to go ahead.
pub fn typed(question: &str, expected: &str) -> bool {
    ask(&format!("{question}\nType `{expected}` to confirm:")) == expected
}
