# frozen_string_literal: true

module Exteros
  VERSION = '0.1.0'
end
