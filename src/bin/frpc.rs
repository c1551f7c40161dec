//! frpc: the side next to the services. See `frp::cli::frpc`.

fn main() -> std::process::ExitCode {
    frp::cli::frpc::main()
}
