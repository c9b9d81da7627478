"""Running the stack: embedded broker, topics, process supervision."""
