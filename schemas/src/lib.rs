//! Avro contracts of every topic and the Confluent wire-format codec.
