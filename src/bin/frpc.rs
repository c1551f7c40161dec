//! frpc: the side next to the services. See `frp::cli::frpc`.

fn main() -> std::process::ExitCode {
    frp::alloc::configure();
    frp::cli::frpc::main()
}
