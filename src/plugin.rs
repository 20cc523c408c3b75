//! Running as a kubectl plugin. kubectl runs `kubectl catalog graph ...` as the executable
//! `kubectl-catalog` found on PATH, with `graph ...` as its arguments; a link named
//! `kubectl-catalog` to the `playbill` binary is therefore all it takes. The binary then behaves
//! exactly as `playbill`, but its help and errors say `kubectl catalog`, which is what the user
//! typed.

use std::ffi::OsStr;
use std::path::Path;

/// The executable name kubectl looks for to run `kubectl catalog`.
pub const PLUGIN_EXECUTABLE: &str = "kubectl-catalog";

/// Whether `argv0` (the program as invoked) is the plugin executable, whatever directory it is
/// in (kubectl passes the full path) and with Windows' `.exe`.
pub fn is_plugin(argv0: &OsStr) -> bool {
    let Some(name) = Path::new(argv0).file_name().and_then(OsStr::to_str) else {
        return false;
    };
    let name = name.strip_suffix(".exe").unwrap_or(name);
    name == PLUGIN_EXECUTABLE
}

fn invoked_as_plugin() -> bool {
    std::env::args_os().next().is_some_and(|a| is_plugin(&a))
}

/// The command name to show users: `kubectl catalog` under kubectl, else `playbill`.
pub fn program_name() -> &'static str {
    if invoked_as_plugin() {
        "kubectl catalog"
    } else {
        "playbill"
    }
}

/// `command` as it presents itself when invoked as `argv0`. clap would otherwise name the
/// program after the executable (`kubectl-catalog`), which is not what the user typed.
pub fn for_invocation(command: clap::Command, argv0: &OsStr) -> clap::Command {
    if is_plugin(argv0) {
        command.bin_name("kubectl catalog")
    } else {
        command
    }
}

/// Parses the process's arguments into `C`, presenting the program as it was invoked; exits
/// with clap's message and code on bad arguments, `--help` or `--version`, like `C::parse()`.
pub fn parse<C: clap::Parser>() -> C {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let matches = for_invocation(C::command(), &argv0).get_matches();
    C::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

    #[test]
    fn recognises_the_plugin_name_only() {
        for yes in [
            "kubectl-catalog",
            "/home/me/bin/kubectl-catalog",
            "./kubectl-catalog",
            "kubectl-catalog.exe",
        ] {
            assert!(is_plugin(OsStr::new(yes)), "{yes}");
        }
        for no in [
            "playbill",
            "/usr/bin/playbill",
            "kubectl",
            "kubectl-catalog-graph",
            "/kubectl-catalog/playbill",
            "",
        ] {
            assert!(!is_plugin(OsStr::new(no)), "{no}");
        }
    }

    #[derive(Parser)]
    #[command(name = "playbill")]
    struct Cli {
        #[command(subcommand)]
        command: Sub,
    }

    #[derive(Subcommand)]
    enum Sub {
        Graph(crate::graph::GraphArgs),
    }

    fn help(argv0: &str, args: &[&str]) -> String {
        let err = for_invocation(Cli::command(), OsStr::new(argv0))
            .try_get_matches_from(std::iter::once(argv0).chain(args.iter().copied()))
            .unwrap_err();
        err.render().to_string()
    }

    #[test]
    fn help_names_the_command_as_typed() {
        let h = help("/usr/local/bin/kubectl-catalog", &["graph", "--help"]);
        assert!(
            h.contains("Usage: kubectl catalog graph [OPTIONS] [REF]"),
            "{h}"
        );
        assert!(!h.contains("kubectl-catalog"), "{h}");
        let h = help("/usr/local/bin/kubectl-catalog", &["--help"]);
        assert!(h.contains("Usage: kubectl catalog <COMMAND>"), "{h}");
        let h = help("/usr/bin/playbill", &["graph", "--help"]);
        assert!(h.contains("Usage: playbill graph [OPTIONS] [REF]"), "{h}");
        // And the arguments parse the same either way.
        let cli = Cli::from_arg_matches(
            &for_invocation(Cli::command(), OsStr::new("kubectl-catalog"))
                .try_get_matches_from(["kubectl-catalog", "graph", "api:x/y", "-o", "mermaid"])
                .unwrap(),
        )
        .unwrap();
        let Sub::Graph(args) = cli.command;
        assert_eq!(args.reference.as_deref(), Some("api:x/y"));
    }
}
