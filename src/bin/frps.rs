//! frps: the public side of the tunnel. See `frp::cli::frps`.

fn main() -> std::process::ExitCode {
    frp::alloc::configure();
    frp::cli::frps::main()
}
