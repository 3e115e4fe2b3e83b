# frozen_string_literal: true
# Loading for the gems whose specs need a server package bin/setup installs
# (amqp, mysql2, sinatra): a missing package fails the group loudly with the
# apt-get line, never skips it; in em_rust mode a gem that pulls in a file of
# the real eventmachine fails it too.
module RealGems
  # Call in before(:context).
  def require_real_gems!(package, *features)
    before = $LOADED_FEATURES.dup
    begin
      features.each { |f| require f }
    rescue LoadError => e
      raise LoadError, "Debian package #{package} is not installed (bin/setup installs it; " \
                       "by hand: apt-get install -y #{package}): #{e.message}"
    end
    real = ($LOADED_FEATURES - before).grep(REAL_EM_FILES)
    return if real.empty? || !ImplCheck.em_rust?
    raise "loading #{features.join(', ')} pulled in the real eventmachine: #{real.join(', ')}"
  end
end

RSpec.configure { |config| config.include RealGems, :integration }
