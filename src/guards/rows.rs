//! Counting the rows of a SQL tool's result: being built.
