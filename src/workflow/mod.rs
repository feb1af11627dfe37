//! Work a command does, as library calls: what `evalgate run` and `evalgate gate` decide and
//! drive, given one resolved settings value, so that the CLI, `serve`, tests and a future API
//! call the same code. A workflow reports its progress through `output::Printer` and hands
//! each finished piece to a callback; it renders nothing (the CLI renders).

pub mod run;
