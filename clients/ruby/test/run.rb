# frozen_string_literal: true

# Runs every test file: `ruby test/run.rb` (from clients/ruby or anywhere).
Dir[File.join(__dir__, 'test_*.rb')].sort.each { |f| require f }
