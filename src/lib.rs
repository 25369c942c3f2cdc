//! cardscreen: screen files of bank card numbers against the Juhe bank-card blacklist API.

pub mod simulator;
