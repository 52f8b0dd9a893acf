fn main() -> std::process::ExitCode {
    stackctl::run(std::env::args_os()).into()
}
