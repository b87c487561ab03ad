//! Entropy coding of codes: the learned factorized prior and its training relaxation
//! ([`prior`]), and the integer tables a model file stores for coding ([`tables`]).

pub mod hyper_tables;
pub mod prior;
pub mod tables;
