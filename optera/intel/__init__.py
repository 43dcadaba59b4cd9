"""Market intelligence: profitability metrics over price history, short forecasts,
bitcoin market data and the written market brief."""
