# frozen_string_literal: true

module Exteros
  # An error answer from the API: +status+ and +message+ from its error JSON
  # (status 0 when there was no answer at all), +retry_after+ in seconds for a 429.
  class Error < StandardError
    attr_reader :status, :retry_after

    def initialize(status, message, retry_after: nil)
      super(message)
      @status = status
      @retry_after = retry_after
    end
  end
end
