//! The tutorial's client: calls `SayHello` and prints the reply's message.

use clap::Parser;
use hello::hello::hello_client::HelloClient;
use hello::hello::HelloRequest;

#[derive(Parser)]
#[command(about = "Calls the tutorial's Hello service")]
struct Args {
    /// The server to call.
    #[arg(long, default_value = "http://127.0.0.1:5000")]
    addr: String,
    #[arg(long, default_value = "world")]
    name: String,
    #[arg(long, default_value_t = 18)]
    age: i32,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let client = match HelloClient::connect(&args.addr).await {
        Ok(client) => client,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(14);
        }
    };
    let request = HelloRequest {
        name: args.name,
        age: args.age,
    };
    match client.say_hello(request).await {
        Ok(reply) => {
            println!("{}", reply.into_inner().message);
            std::process::ExitCode::SUCCESS
        }
        Err(status) => {
            eprintln!("error: {status}");
            std::process::ExitCode::from(status.code() as u8)
        }
    }
}
